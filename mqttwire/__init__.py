"""MQTT plumbing shared by the gateway, the simulator, the web app and the benchmarks.

    packets    one MQTT 3.1.1 codec: packet builders, and the framer that reads a byte stream
    topics     the contract's topic tree under one prefix, built and parsed
    tls        the TLS context of every MQTT client, made from the `[mqtt]` settings
    mosquitto  Mosquitto's password file, ACL and TLS listener from the stored MQTT accounts, and its reload

It is a package of its own because twin, the domain, must not know MQTT; the gateway and the
web app must not import each other; and the simulator is a device, not a gateway. It imports
nothing of GridTwin but twin (settings, errors, MQTT accounts). The modules are not imported
here: a load generator that needs only `packets` starts without the rest.
"""

__all__ = ["mosquitto", "packets", "tls", "topics"]
