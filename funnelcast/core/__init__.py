"""Small pure helpers every layer uses: fiscal periods (`periods`), rates with intervals
(`stats`), how numbers are written for people (`formats`) and the currencies amounts can be in
(`currency`). Nothing here touches a database.
"""
