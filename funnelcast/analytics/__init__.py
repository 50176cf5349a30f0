"""What the pages and the CLI report, computed from the query files without Streamlit: headline
metrics, the funnel and its journeys, the sales hand-off, attribution, ROI, the overview's
figures and the weight suggestions learned from known outcomes.
"""
