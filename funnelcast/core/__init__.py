"""Small pure helpers every layer uses: fiscal periods (`periods`), rates with intervals
(`stats`) and how numbers are written for people (`formats`). Nothing here touches a database.
"""
