"""The four DigitLab models, one module each; `registry` maps ids to them."""
