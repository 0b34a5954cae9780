"""What compiled modules are made of and run on: the plan vocabulary (``plans``), the
function library (``functions``), typed tables (``validate``, ``tables``) and
``execute``, which runs an output's plan over the tables.
"""
