#!/usr/bin/python3
"""The echo client in Python (Debian's Pyro4, or Pyro5 with --pyro5): the same calls as
client.cpp, against the same C++ echo server."""
import sys

if len(sys.argv) > 2 and sys.argv[2] == "--pyro5":
    import Pyro5.api as pyro
    import Pyro5.errors as errors
    name = "Pyro5"
else:
    import Pyro4 as pyro
    import Pyro4.errors as errors
    name = "Pyro4"

with pyro.Proxy(sys.argv[1]) as echo:
    print("Python %s client: echo('hello') ->" % name, repr(echo.echo("hello")))
    print("Python %s client: echo(2**70) ->" % name, echo.echo(2**70))
    try:
        echo.error_with_text()
    except ValueError as e:
        print("Python %s client: error_with_text() raised ValueError: %s" % (name, e))
    print("Python %s client: generator() streams:" % name, list(echo.generator()))
    print("Python %s client: verbose =" % name, echo.verbose)
    echo.oneway_echo("fire and forget")
    print("Python %s client: oneway_echo sent" % name)
