"""Grouping: from units (tracks joined with the bodies they were seen in) to people.

    from facecluster.grouping import Fusion, GroupingOptions, build_units, group
    units = build_units(table, faces, clothing)        # RunTable + (ids, vectors) spaces
    grouping = group(units, GroupingOptions(Fusion(face_cut=0.6, clothing_cut=0.4, weight=0.5)))
    grouping.unit_person[table.unit_id]               # person id per row

evidence.Fusion is the one fused face+clothing distance (also used by `similar` and `compare-persons`);
base.group is the one flow; dense and scalable are interchangeable clustering backends.
"""

from .base import LARGE_UNITS, Constraints, Grouping, GroupingOptions, backends, components, group
from .evidence import Fusion
from .units import Space, Units, build_units, cooccurring_pairs

__all__ = ["Constraints", "Fusion", "Grouping", "GroupingOptions", "LARGE_UNITS", "Space", "Units", "backends",
           "build_units", "components", "cooccurring_pairs", "group"]
