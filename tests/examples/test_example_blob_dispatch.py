"""examples/blob-dispatch: a dispatcher forwards SerializedBlobs to the listeners of their topic
without decoding them; only the listeners decode the blobdispatch.CustomData inside. Checked for
C++ everywhere, and with Python Pyro4 clients and listeners around the C++ dispatcher."""
import os
import re

from conftest import PYTHON, program, run, source

DATA = re.compile(r"^    a=42, b=hello world, c=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
# Python Pyro4 refuses unknown PYRO_* variables. The dispatcher needs no setting to reach Pyro4
# listeners: a proxy registered in Pyro4's form is called with protocol 48.
PYTHON_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYRO")}


def start_dispatcher(background, env=None):
    dispatcher = background([program("blob-dispatch", "blob_dispatch_dispatcher"),
                             "--host", "127.0.0.1"], env=env)
    uri = dispatcher.expect(r"^uri: (PYRO:example\.blobdispatcher@127\.0\.0\.1:\d+)$").group(1)
    return dispatcher, uri


def start_listener(background, dispatcher_uri, topic, python=False):
    if python:
        args = [PYTHON, source("blob-dispatch", "listener.py"), dispatcher_uri, topic, "127.0.0.1"]
        listener = background(args, env=PYTHON_ENV)
    else:
        args = [program("blob-dispatch", "blob_dispatch_listener"), dispatcher_uri, topic,
                "--host", "127.0.0.1"]
        listener = background(args)
    listener.expect(r"^uri: PYRO:obj_[0-9a-f]+@127\.0\.0\.1:\d+$")
    listener.expect(r"^listener for topic %s waiting for data$" % topic)
    return listener


def received(listener):
    """The (topic, data line) pairs a listener printed, after it has been stopped."""
    lines = listener.stop().splitlines()
    pairs = []
    for i, line in enumerate(lines):
        m = re.match(r"^received custom data on topic (\w+) \((.*)\):$", line)
        if m:
            assert DATA.match(lines[i + 1]), lines
            pairs.append((m.group(1), m.group(2)))
    return pairs


CPP_DATA = "class 'blobdispatch.CustomData'"  # the C++ listener reads it as the class dict
PY_DATA = "type CustomData"  # the Python listener gets an instance of its class


def test_cpp_client_dispatcher_and_listeners(background):
    dispatcher, uri = start_dispatcher(background)
    weather = start_listener(background, uri, "weather")
    news = start_listener(background, uri, "news")
    _, out, _ = run([program("blob-dispatch", "blob_dispatch_client"), uri,
                     "weather", "news", "sports", "weather"], timeout=30)
    assert out.count(": processed") == 4, out
    assert received(weather) == [("weather", CPP_DATA)] * 2
    assert received(news) == [("news", CPP_DATA)]
    log = dispatcher.stop()
    assert len(re.findall(r"^new listener for topic (weather|news) registered: PYRO:obj_", log,
                          re.M)) == 2, log
    # routed by the blob's info alone, the payload left in its serpent encoding
    routed = re.findall(r"^dispatching blob with info '(\w+)' \((\d+) payload bytes, serpent\) "
                        r"to (\d) listener\(s\)$", log, re.M)
    assert [(t, int(n)) for t, _, n in routed] == [("weather", 1), ("news", 1), ("sports", 0),
                                                   ("weather", 1)], log


def test_pyro4_client_to_pyro4_and_cpp_listeners(background):
    _, uri = start_dispatcher(background)
    cpp_weather = start_listener(background, uri, "weather")
    py_weather = start_listener(background, uri, "weather", python=True)
    py_news = start_listener(background, uri, "news", python=True)
    _, out, _ = run([PYTHON, source("blob-dispatch", "client.py"), uri, "weather", "news", "sports"],
                    timeout=30, env=PYTHON_ENV)
    assert out.count(": processed") == 3, out
    assert received(cpp_weather) == [("weather", CPP_DATA)]
    assert received(py_weather) == [("weather", PY_DATA)]
    assert received(py_news) == [("news", PY_DATA)]


def test_cpp_client_to_pyro4_listener(background):
    _, uri = start_dispatcher(background)
    py_news = start_listener(background, uri, "news", python=True)
    cpp_sports = start_listener(background, uri, "sports")
    _, out, _ = run([program("blob-dispatch", "blob_dispatch_client"), uri, "news", "weather",
                     "news", "sports"], timeout=30)
    assert out.count(": processed") == 4, out
    assert received(py_news) == [("news", PY_DATA)] * 2
    assert received(cpp_sports) == [("sports", CPP_DATA)]
