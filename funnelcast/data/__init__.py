"""The one door to the database: connect, migrate and run `queries/NAME.sql` with bound
parameters (`db`), the calendar a database's figures are scoped by (`context`), and the engines
that run the same query files (`engine`, and Spark through `spark_engine` / `spark_sql`).
"""
