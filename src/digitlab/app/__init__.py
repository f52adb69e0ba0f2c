"""The Streamlit web app (``digitlab app``): pages lay out widgets and call the library."""
