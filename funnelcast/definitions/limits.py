"""What a definition may hold: the fit attributes and company size bands schema.sql knows, and
the ranges of points, thresholds and half-lives (validation checks them, files explain them).
"""

# The attributes a fit rule may name: the CHECK list of definition_fit_rules in schema.sql.
FIT_ATTRIBUTES = ("channel", "industry", "company_size_band", "country", "region", "seniority")
# The bands lead_fit_attributes (schema.sql) puts company sizes in, smallest first.
COMPANY_SIZE_BANDS = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
MIN_POINTS, MAX_POINTS = -100.0, 100.0
MIN_THRESHOLD, MAX_THRESHOLD = 0.0, 1000.0
MAX_HALF_LIFE_DAYS = 3650.0
