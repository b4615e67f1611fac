"""The twin: grid hierarchy and codes, devices, readings, cell state, anomalies, and their stores."""
