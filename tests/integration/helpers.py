"""Integration-test helpers for revmq: processes, real MQTT clients, raw packets.

The code lives in three modules by topic; this module re-exports all of them,
so ``import helpers`` / ``from helpers import X`` work for every name:

* ``processes.py``    - ports, waiting, the ``Broker`` process.
* ``mqtt_packets.py`` - packet types, reason codes, properties, builders, decoder.
* ``mqtt_clients.py`` - ``RawClient``, paho-mqtt (``PahoClient``), mosquitto CLIs.

Everything here runs real things on loopback; nothing is mocked.

What is here (the conftest.py fixtures wrap the first part):

* ``free_port()``                 - a free TCP port on 127.0.0.1 (ask the OS).
* ``wait_until(cond, timeout)``   - poll a condition with a deadline (no bare sleeps).
* ``Broker``                      - one broker process (revmq, or Debian's mosquitto
                                    when RMQ_TEST_PEER=mosquitto) with its config
                                    file, log file, readiness wait and clean stop.
* ``PahoClient`` / ``paho_connect`` - paho-mqtt 1.6.1 client (MQTT 3.1.1 or 5.0)
                                    with connect-and-wait and a message collector.
* ``RawClient``                   - an MQTT client on a bare socket that sends exactly
                                    the bytes you build and decodes what comes back;
                                    for malformed packets, packet ids, DUP flags,
                                    in-flight windows and reason codes.
* packet builders (``build_connect``, ``build_publish``, ``build_subscribe``, ...)
  and ``encode_props`` / ``decode_props`` for MQTT 5 properties.
* ``MosquittoSub`` / ``mosquitto_pub`` - Debian's mosquitto command-line clients.

Environment:
  RMQ_BUILD_DIR      where ``revmq`` is (default /work/main/build)
  RMQ_TEST_PEER      ``revmq`` (default) or ``mosquitto``: run the generic MQTT
                     tests against Debian's mosquitto 2.0.11 to check the tests.
  RMQ_TEST_VALGRIND  ``1``: run revmq under valgrind (leak check, exit code 99 on
                     errors); slower, not the default.
"""

from __future__ import annotations

from mqtt_clients import *  # noqa: F401,F403
from mqtt_packets import *  # noqa: F401,F403
from processes import *  # noqa: F401,F403
from mqtt_packets import _Rd  # noqa: F401 (private names are not star-imported)
