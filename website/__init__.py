"""The course's static site and the tools around its notebooks (not part of the installed library).

``build`` turns the stored notebooks into ``build/site`` (``make site``); ``frames`` runs the
notebooks that hold explorers to render their kernel-free copies; ``links`` derives every
launch link from the one repository URL in ``pyproject.toml``; ``prepare_notebooks`` (run by
``make notebooks``) writes the first code cell of every notebook, which installs the library where it
is missing (Colab), and drops stored widget state.
"""
