"""The plugin's tab in QGIS's log panel, shared by the run and the install tasks."""
LOG_TAG = "OAIP"
