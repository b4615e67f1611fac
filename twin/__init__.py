"""The twin: the domain and its store. It knows nothing of MQTT, HTTP or processes.

    sensing    metric catalogue, readings, anomalies, live cell state, detection settings
    grid       cells, codes and hierarchy, point-in-cell lookup, generated grids, grid files
    devices    devices on the grid, their MQTT accounts, provisioning and health
    people     users, bearer tokens and logins, permissions, the audit log
    cases      the case workflow, the case book, deadlines, responsibility, auto-dispatch, figures
    contract   the outbound payloads (CloudEvents) and their JSON Schemas
    store      the store interface, its SQLite and PostgreSQL backends, retention, backup

`config` (the settings of every process), `errors` (the exception tree), `ids` and `times`
sit at the top, beside the subpackages.
"""
