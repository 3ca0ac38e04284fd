"""A Pyro4 listener for the C++ dispatcher: serves itself in its own daemon, registers with the
dispatcher for one topic and decodes the blobs it gets.
Usage: python3 listener.py <dispatcher uri> <topic> [host]"""
import sys

import Pyro4
import Pyro4.util

from customdata import CustomData

# teach the serializer to turn the class dict back into a CustomData
Pyro4.util.SerializerBase.register_dict_to_class(CustomData.serialized_classname,
                                                 CustomData.from_dict)


@Pyro4.expose
class Listener(object):
    def __init__(self, topic):
        self.topic = topic

    def process_blob(self, blob):
        assert blob.info == self.topic
        data = blob.deserialized()  # the only place the payload is decoded
        print("received custom data on topic {} (type {}):".format(self.topic,
                                                                  type(data).__name__))
        print("    a={}, b={}, c={}".format(data.a, data.b, data.c), flush=True)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: listener.py <dispatcher uri> <topic> [host]")
    dispatcher_uri, topic = sys.argv[1], sys.argv[2]
    host = sys.argv[3] if len(sys.argv) > 3 else "localhost"
    listener = Listener(topic)
    with Pyro4.Daemon(host=host) as daemon:
        uri = daemon.register(listener)
        print("uri:", uri, flush=True)
        with Pyro4.Proxy(dispatcher_uri) as dispatcher:
            dispatcher.register(topic, listener)  # travels as a proxy to this listener
        print("listener for topic {} waiting for data".format(topic), flush=True)
        daemon.requestLoop()


if __name__ == "__main__":
    main()
