"""Real-browser tests: JupyterLab served on loopback, driven by Debian's chromium through Playwright."""
