"""Stand-in for comfy_api.latest._io (ComfyUI 0.3.64), used only when ComfyUI is not available
(COMFYUI_PATH unset).  It holds just what this pack uses: io.ComfyNode, io.Schema, io.NodeOutput,
the types Model, Image, Conditioning, Int, Float and Combo with .Input(...) / .Output(...), and the
V1 view ComfyUI derives from a schema (INPUT_TYPES(), RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS,
CATEGORY, DESCRIPTION, GET_NODE_INFO_V1()), written from reading ComfyUI's _io.py so that the dict
shapes are the same: options without None values, a combo as ("COMBO", {"multiselect": False,
"options": [...]}), outputs named by display_name or else by type, tooltips None where unset.

Simplified where this pack does not care: arguments after the id (and a combo's options) are
keyword-only, and options the pack does not use are left out (passing one is a TypeError here);
no hidden inputs, lazy evaluation, dynamic types, UI outputs or schema caching.
It is not the truth: the host tests (COMFYUI_PATH, tests/host/) run the same nodes through
ComfyUI's real comfy_api, and tests/host/test_host_schema.py compares the two views.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


def _pruned(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class classproperty:
    def __init__(self, f):
        self.f = f

    def __get__(self, obj, owner):
        return self.f(owner)


class Input:
    io_type = None   # set per type below

    def __init__(self, id, *, display_name=None, optional=False, tooltip=None):
        self.id, self.display_name, self.optional, self.tooltip = id, display_name, optional, tooltip

    def as_dict(self) -> dict:
        return _pruned({"display_name": self.display_name, "optional": self.optional,
                        "tooltip": self.tooltip})


class WidgetInput(Input):
    def __init__(self, id, *, default=None, force_input=None, **kw):
        super().__init__(id, **kw)
        self.default, self.force_input = default, force_input

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned({"default": self.default, "forceInput": self.force_input})


class Output:
    io_type = None

    def __init__(self, id=None, *, display_name=None, tooltip=None, is_output_list=False):
        self.id, self.display_name, self.tooltip = id, display_name, tooltip
        self.is_output_list = is_output_list


def _socket_type(io_type: str):
    """A type that is only a socket (MODEL, IMAGE, ...): Input and Output without options."""
    return type(io_type.title(), (), {
        "io_type": io_type,
        "Input": type("Input", (Input,), {"io_type": io_type}),
        "Output": type("Output", (Output,), {"io_type": io_type}),
    })


Model = _socket_type("MODEL")
Image = _socket_type("IMAGE")
Conditioning = _socket_type("CONDITIONING")


class Int:
    io_type = "INT"

    class Input(WidgetInput):
        io_type = "INT"

        def __init__(self, id, *, min=None, max=None, step=None, control_after_generate=None, **kw):
            super().__init__(id, **kw)
            self.min, self.max, self.step = min, max, step
            self.control_after_generate = control_after_generate

        def as_dict(self) -> dict:
            return super().as_dict() | _pruned({
                "min": self.min, "max": self.max, "step": self.step,
                "control_after_generate": self.control_after_generate})


class Float:
    io_type = "FLOAT"

    class Input(WidgetInput):
        io_type = "FLOAT"

        def __init__(self, id, *, min=None, max=None, step=None, round=None, **kw):
            super().__init__(id, **kw)
            self.min, self.max, self.step, self.round = min, max, step, round

        def as_dict(self) -> dict:
            return super().as_dict() | _pruned({
                "min": self.min, "max": self.max, "step": self.step, "round": self.round})


class Combo:
    io_type = "COMBO"

    class Input(WidgetInput):
        io_type = "COMBO"

        def __init__(self, id, options=None, *, control_after_generate=None, **kw):
            super().__init__(id, **kw)
            self.options, self.control_after_generate = options, control_after_generate

        def as_dict(self) -> dict:
            return super().as_dict() | _pruned({
                "multiselect": False, "options": self.options,
                "control_after_generate": self.control_after_generate})


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = None
    outputs: list = None
    description: str = ""
    is_output_node: bool = False

    def finalize(self):
        """Outputs without an id get ComfyUI's default one; ids must be unique."""
        for i, o in enumerate(self.outputs or []):
            if o.id is None:
                o.id = f"_{i}_{o.io_type}_"
        ids = [x.id for x in (self.inputs or []) + (self.outputs or [])]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.node_id}: input and output ids must be unique: {ids}")
        return self

    def v1_inputs(self) -> dict:
        out = {"required": {}}
        for i in self.inputs or []:
            opts = i.as_dict()
            opts.pop("optional", None)
            out.setdefault("optional" if i.optional else "required", {})[i.id] = (i.io_type, opts)
        return out


@dataclass
class NodeInfoV1:
    input: dict
    input_order: dict
    output: list
    output_is_list: list
    output_name: list
    output_tooltips: list
    name: str
    display_name: str
    description: str
    python_module: str
    category: str
    output_node: bool
    deprecated: bool = False
    experimental: bool = False
    api_node: bool = False


class ComfyNode:
    """Base of a V3 node: define_schema() and execute() are classmethods; nothing is instantiated."""
    RELATIVE_PYTHON_MODULE = None

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        return cls.define_schema().finalize()

    @classmethod
    def INPUT_TYPES(cls, include_hidden=True, return_schema=False):
        schema = cls.GET_SCHEMA()
        return (schema.v1_inputs(), schema) if return_schema else schema.v1_inputs()

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict:
        s = cls.GET_SCHEMA()
        inputs = s.v1_inputs()
        return asdict(NodeInfoV1(
            input=inputs, input_order={k: list(v) for k, v in inputs.items()},
            output=cls.RETURN_TYPES, output_is_list=cls.OUTPUT_IS_LIST,
            output_name=cls.RETURN_NAMES, output_tooltips=cls.OUTPUT_TOOLTIPS, name=s.node_id,
            display_name=s.display_name, description=s.description,
            python_module=getattr(cls, "RELATIVE_PYTHON_MODULE", "nodes"), category=s.category,
            output_node=s.is_output_node))

    @classproperty
    def FUNCTION(cls):  # noqa: N802
        return "EXECUTE_NORMALIZED"

    @classmethod
    def EXECUTE_NORMALIZED(cls, *args, **kwargs) -> NodeOutput:
        out = cls.execute(*args, **kwargs)
        if out is None:
            return NodeOutput()
        if isinstance(out, tuple):
            return NodeOutput(*out)
        if not isinstance(out, NodeOutput):
            raise Exception(f"Invalid return type from node: {type(out)}")
        return out

    @classproperty
    def CATEGORY(cls):  # noqa: N802
        return cls.GET_SCHEMA().category

    @classproperty
    def DESCRIPTION(cls):  # noqa: N802
        return cls.GET_SCHEMA().description

    @classproperty
    def OUTPUT_NODE(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_output_node

    @classproperty
    def RETURN_TYPES(cls):  # noqa: N802 (a list, as in ComfyUI)
        return [o.io_type for o in cls.GET_SCHEMA().outputs or []]

    @classproperty
    def RETURN_NAMES(cls):  # noqa: N802
        return [o.display_name or o.io_type for o in cls.GET_SCHEMA().outputs or []]

    @classproperty
    def OUTPUT_IS_LIST(cls):  # noqa: N802
        return [o.is_output_list for o in cls.GET_SCHEMA().outputs or []]

    @classproperty
    def OUTPUT_TOOLTIPS(cls):  # noqa: N802
        return [o.tooltip or None for o in cls.GET_SCHEMA().outputs or []]


class NodeOutput:
    def __init__(self, *args, ui=None, expand=None, block_execution=None):
        self.args, self.ui, self.expand, self.block_execution = args, ui, expand, block_execution

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None

    def __getitem__(self, index):
        return self.args[index]
