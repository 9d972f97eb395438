"""Benchmark harness for Model Manager: ``python -m bench [--quick] [--only NAME]``.

Every process it needs (a local upstream, the proxy, curl clients) runs on this machine; the
results go to a table on stdout and, for a full run, to ``docs/benchmarks.md``.

Modules, one job each:

* ``process``    free ports, child processes, waiting for ``/healthz``, reading a process's RSS
* ``files``      the random test files (made once per run, deleted at the end)
* ``upstream``   the local HTTP upstream (serves a directory, optional throttling, counts requests)
* ``proxy_proc`` ``modelmanager serve`` as a subprocess with a temp cache directory
* ``clients``    download clients: curl for raw speed, an aiohttp client that times every chunk
* ``rss``        a thread that samples a process's resident set size
* ``disk``       the cache volume's own write speed (concurrent writes ending in fsync)
* ``load``       CPU used by other processes: wait for a quiet machine, note a busy one
* ``scenarios``  the scenarios (warm-hit, herd, cold-rss)
* ``report``     the table, the machine description and ``docs/benchmarks.md``
"""
