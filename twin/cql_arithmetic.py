"""CQL2's arithmetic operators that pygeofilter 0.4 does not parse: ``%``, ``div`` and ``^``.

CQL2 (OGC 21-065, class "arithmetic") defines ``+ - * /``, ``%`` (modulo), ``div`` (integer
division) and ``^`` (power). pygeofilter parses only the first four, in both encodings, so
:func:`install` adds the other three: to its CQL2 JSON operator table, and to its CQL2 text
grammar (a parser built from pygeofilter's grammar with one rule widened, put in place of its
own). Both are module globals of pygeofilter that pygeoapi reaches through pygeofilter's
``parse`` functions; :func:`install` fails loudly when an upgrade moves them.

Two repairs of pygeofilter's readings of CQL2 ride along, in the same places: its text grammar
negates only a predicate (CQL2 also negates a parenthesized ``AND``/``OR``), and its JSON
reader takes BETWEEN as ``[a, [low, high]]`` where CQL2 writes ``[a, low, high]``. And its
text grammar lacks CQL2's array functions (class "array-functions": ``A_EQUALS``,
``A_CONTAINS``, ``A_CONTAINEDBY``, ``A_OVERLAPS``), which its JSON reader and its AST have:
they are added, with CQL2's array literal ``('a', 'b')``. Its string literal ends at the first
quote, so a value holding one (``'O''Neill'``, CQL2's doubled quote) or a line break was "Bad
CQL text": the literal is read as CQL2 defines it.
"""

from __future__ import annotations

import os.path
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark, v_args
from pygeofilter import ast
from pygeofilter import cql2 as pygeofilter_cql2
from pygeofilter.parsers.cql2_json import parser as json_parser
from pygeofilter.parsers.cql2_text import parser as text_parser

#: pygeofilter's CQL2 text rule for products, and what it becomes: ``^`` binds tighter than
#: ``* / % div`` and is right-associative, as in CQL2's BNF (powerTerm).
_PRODUCT_RULE = '''?product: atom
        | product "*" atom                                                  -> mul
        | product "/" atom                                                  -> div
'''
_NEW_PRODUCT_RULE = '''?product: power_term
        | product "*" power_term                                            -> mul
        | product "/" power_term                                            -> div
        | product "%" power_term                                            -> mod
        | product "div"i power_term                                         -> intdiv

?power_term: atom
           | atom "^" power_term                                            -> power
'''

#: pygeofilter's NOT takes a predicate only; CQL2's booleanFactor negates any parenthesized
#: condition too: ``NOT (a = 1 OR b = 2)``, ``NOT ((a IS NULL) AND b = 2)``.
_NOT_RULE = '"NOT"i "(" predicate ")"'
_NEW_NOT_RULE = '"NOT"i "(" condition ")"'


#: Where the array functions join pygeofilter's predicates, and their rules. The second
#: argument is an array literal or a property (a parenthesized expression cannot be there, so
#: the literal's parentheses are unambiguous).
_PREDICATE_ALTERNATIVE = "          | spatial_predicate\n"
#: pygeofilter's string literal, and CQL2's: any characters but a lone quote, which is doubled.
_STRING_RULE = 'SINGLE_QUOTED: "\'" /.*?/ "\'"'
_NEW_STRING_RULE = "SINGLE_QUOTED: /'(?:[^']|'')*'/"
_ARRAY_RULES = '''
?array_predicate: _array_predicate_func "(" expression "," array_operand ")" -> array_predicate
!_array_predicate_func: "A_EQUALS"i | "A_CONTAINS"i | "A_CONTAINEDBY"i | "A_OVERLAPS"i
?array_operand: array | attribute
array: "(" [literal ("," literal)*] ")"
'''


class _Op:
    """Stands in for pygeofilter's ArithmeticOp enum (which has no member for these)."""

    def __init__(self, value: str) -> None:
        self.value = value


@dataclass
class Mod(ast.Arithmetic):
    """``a % b``: the remainder of a divided by b."""

    op = _Op("%")


@dataclass
class IntDiv(ast.Arithmetic):
    """``a div b``: a divided by b, truncated to an integer."""

    op = _Op("div")


@dataclass
class Power(ast.Arithmetic):
    """``a ^ b``: a to the power of b."""

    op = _Op("^")


@v_args(inline=True)  # as pygeofilter's transformer: rule children as arguments
class _Transformer(text_parser.CQLTransformer):
    def SINGLE_QUOTED(self, token):  # noqa: ANN001, ANN201, N802 - lark callback
        return token[1:-1].replace("''", "'")

    def mod(self, lhs, rhs):  # noqa: ANN001, ANN201 - lark callback
        return Mod(lhs, rhs)

    def intdiv(self, lhs, rhs):  # noqa: ANN001, ANN201 - lark callback
        return IntDiv(lhs, rhs)

    def power(self, lhs, rhs):  # noqa: ANN001, ANN201 - lark callback
        return Power(lhs, rhs)

    def array_predicate(self, op, lhs, rhs):  # noqa: ANN001, ANN201 - lark callback
        return pygeofilter_cql2.ARRAY_PREDICATES_MAP[str(op).lower()](lhs, rhs)

    def array(self, *items):  # noqa: ANN002, ANN201 - lark callback
        return [i for i in items if i is not None]


def install() -> None:
    """Teach pygeofilter's CQL2 text and JSON parsers ``%``, ``div`` and ``^`` (idempotent).

    Raises
    ------
    RuntimeError
        When pygeofilter no longer has the grammar rule or operator table relied on.
    """
    table = pygeofilter_cql2.BINARY_OP_PREDICATES_MAP
    if table.get("%") is Mod:
        return
    grammar_path = Path(text_parser.__file__).with_name("grammar.lark")
    grammar = grammar_path.read_text(encoding="utf-8")
    relied_on = _PRODUCT_RULE in grammar and grammar.count(_NOT_RULE) == 1 and \
        grammar.count(_PREDICATE_ALTERNATIVE) == 1 and grammar.count(_STRING_RULE) == 1 and \
        "a_contains" in getattr(pygeofilter_cql2, "ARRAY_PREDICATES_MAP", {})
    if not relied_on or not isinstance(getattr(text_parser, "parser", None), Lark):
        raise RuntimeError("pygeofilter's CQL2 text grammar changed; twin/cql_arithmetic.py "
                           "must be updated for this pygeofilter version")
    text_parser.parser = Lark(
        grammar.replace(_PRODUCT_RULE, _NEW_PRODUCT_RULE).replace(_NOT_RULE, _NEW_NOT_RULE)
        .replace(_PREDICATE_ALTERNATIVE, _PREDICATE_ALTERNATIVE + "          | array_predicate\n")
        .replace(_STRING_RULE, _NEW_STRING_RULE)
        + _ARRAY_RULES,
        parser="lalr",
        maybe_placeholders=False, transformer=_Transformer(),
        source_path=str(grammar_path),
        import_paths=[os.path.dirname(os.path.dirname(text_parser.__file__))])
    table.update({"%": Mod, "div": IntDiv, "^": Power})
    json_parser.walk_cql_json = _standard_between(json_parser.walk_cql_json)


def _standard_between(walk: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """pygeofilter's CQL2 JSON walker, reading BETWEEN's three arguments as CQL2 writes them
    (its own recursive calls reach this wrapper through the module global)."""

    def walk_cql_json(node: Any) -> Any:
        if isinstance(node, dict) and node.get("op") == "between" and \
                isinstance(node.get("args"), list) and len(node["args"]) == 3:
            a, low, high = node["args"]
            node = {**node, "args": [a, [low, high]]}
        return walk(node)

    return walk_cql_json
