"""A Pyro4 client for the C++ dispatcher: sends a CustomData for each topic given, wrapped in a
SerializedBlob whose info is the topic.
Usage: python3 client.py <dispatcher uri> <topic>..."""
import datetime
import sys

import Pyro4
import Pyro4.core
import Pyro4.util

from customdata import CustomData

# teach the serializer to write a CustomData as its class dict
Pyro4.util.SerializerBase.register_class_to_dict(CustomData, CustomData.to_dict)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: client.py <dispatcher uri> <topic>...")
    with Pyro4.Proxy(sys.argv[1]) as dispatcher:
        for topic in sys.argv[2:]:
            data = CustomData(42, "hello world", datetime.datetime.now().replace(microsecond=0))
            dispatcher.process_blob(Pyro4.core.SerializedBlob(topic, data))
            print("sent data on topic {}: processed".format(topic), flush=True)


if __name__ == "__main__":
    main()
