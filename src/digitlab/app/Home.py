"""DigitLab's web app, the entry point of ``streamlit run`` (``digitlab app`` runs it).

It only sets up the pages; each page file lays out its widgets and calls the library.
"""

import streamlit as st

from digitlab.app import join, loaders

# On a phone (390 px): tab rows wrap instead of hiding their last tabs off the right edge, and
# a wide table scrolls inside its own box instead of cutting its last column.
PHONE_CSS = """
[data-testid="stTabs"] [role="tablist"] { flex-wrap: wrap; row-gap: 0.25rem; }
[data-testid="stTable"] { overflow-x: auto; max-width: 100%; }
.st-key-close_sidebar { display: none; }
@media (max-width: 640px) {
  [data-testid="stTabs"] [role="tablist"] { column-gap: 0.75rem; }
  [data-testid="stTable"] table { font-size: 0.75rem; width: 100%; }
  [data-testid="stTable"] th, [data-testid="stTable"] td {
    padding: 0.2rem 0.25rem; white-space: normal; overflow-wrap: anywhere;
  }
}
"""
# On a narrow screen the sidebar covers the page: close it once the user has picked a page.
CLOSE_SIDEBAR_JS = """
(() => {
  if (window.digitlabSidebar) return;
  window.digitlabSidebar = true;
  let path = location.pathname;
  setInterval(() => {
    if (location.pathname === path) return;
    path = location.pathname;
    if (window.innerWidth > 640) return;
    const sidebar = document.querySelector('[data-testid="stSidebar"]');
    if (!sidebar || sidebar.getBoundingClientRect().width < 1) return;
    const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (close) close.click();
  }, 150);
})();
"""

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
st.html(f"<style>{PHONE_CSS}</style>")
join.show_join_box()  # only when `digitlab app --host` opened the app to the network
page.run()
with st.container(key="close_sidebar"):  # hidden (no gap under the page); its script runs
    st.html(f"<script>{CLOSE_SIDEBAR_JS}</script>", unsafe_allow_javascript=True)
loaders.warm_up()  # after the first page is drawn: models then load in the background
