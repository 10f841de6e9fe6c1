"""Installing torch for the Python that QGIS runs, from the plugin itself (issue 14).

`pip_install` and `pip_output` are plain Python (no QGIS import, tested headless); `install_task`
is the QgsTask that runs pip and the messages the analyst reads.
"""
