"""The data class of the blob-dispatch example on the Python side, shared by client.py and
listener.py: it travels as the class dict {"__class__": "blobdispatch.CustomData", "a", "b", "c"},
which the C++ programs read and write with PYRO_FIELDS (custom_data.hpp)."""


class CustomData(object):
    serialized_classname = "blobdispatch.CustomData"

    def __init__(self, a, b, c):
        self.a = a
        self.b = b
        self.c = c

    def to_dict(self):
        """for register_class_to_dict"""
        return {"__class__": self.serialized_classname, "a": self.a, "b": self.b, "c": self.c}

    @classmethod
    def from_dict(cls, classname, d):
        """for register_dict_to_class"""
        assert classname == cls.serialized_classname
        return cls(d["a"], d["b"], d["c"])
