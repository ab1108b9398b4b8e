"""The enclave Python runner: trusted operator code that runs a researcher's script.

The component is built once by sdk/python/build-runner.sh with componentize-py. At run time
the sandbox mounts the submitted script read-only at /job/main.py; this runner compiles it
and executes it as `__main__` with the job's arguments in sys.argv[1:]. Everything else
(/data read-only, /out, limits, frozen clocks, seeded randomness, no sockets) is the
sandbox's, exactly as for any other job.

An uncaught exception prints its traceback to stderr and the job exits with status 1;
`sys.exit(0)` (or None) is success and any other `sys.exit` value is failure.
"""

import sys
import traceback

# componentize-py bundles only the modules the runner imports (and what they import), so
# every standard module an analysis script may reasonably need is imported here.
import bisect  # noqa: F401
import collections  # noqa: F401
import csv  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import heapq  # noqa: F401
import io  # noqa: F401
import itertools  # noqa: F401
import json  # noqa: F401
import math  # noqa: F401
import operator  # noqa: F401
import os  # noqa: F401
import pathlib  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import textwrap  # noqa: F401
import typing  # noqa: F401

import enclave_sdk  # noqa: F401  (sdk/python/enclave_sdk.py, bundled)
from componentize_py_types import Err
from wit_world import exports

SCRIPT = "/job/main.py"


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        sys.argv = [SCRIPT] + args
        try:
            with open(SCRIPT, encoding="utf-8") as source:
                code = compile(source.read(), SCRIPT, "exec")
            exec(code, {"__name__": "__main__", "__file__": SCRIPT})
        except SystemExit as stop:
            if stop.code is None or stop.code == 0:
                return
            if not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
            _flush()
            raise Err(None)
        except BaseException:  # noqa: BLE001 - every failure of the script ends the job
            traceback.print_exc()
            _flush()
            raise Err(None)
        _flush()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
