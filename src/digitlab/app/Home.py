"""DigitLab's web app, the entry point of ``streamlit run`` (``digitlab app`` runs it).

It only sets up the pages; each page file lays out its widgets and calls the library.
"""

import streamlit as st

from digitlab.app import loaders

st.set_page_config(page_title="DigitLab", page_icon="✏️", layout="wide")
page = st.navigation(
    [
        st.Page("pages/recognise.py", title="Recognise", default=True),
        st.Page("pages/evaluate.py", title="Evaluate"),
        st.Page(
            "pages/how_it_works.py",
            title="How it works",
            url_path="how-it-works",
        ),
        st.Page("pages/handwriting.py", title="Your handwriting", icon="✍️", url_path="handwriting"),
        st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    ]
)
page.run()
loaders.warm_up()  # after the first page is drawn: models then load in the background
