"""`facecluster library ...`: the people library (names learnt in one run, recognised in the next) and
archive-wide identities of the people nobody named yet."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..text import plural

LIBRARY = click.option("--library", "library_path", required=True, envvar="FACECLUSTER_LIBRARY",
                       type=click.Path(dir_okay=False, path_type=Path),
                       help="The library file (made by the first `library add`), or set FACECLUSTER_LIBRARY.")


def _open(path: Path, create: bool = False, readonly: bool = False):
    from ..library import Library

    return Library.open(path, create=create, readonly=readonly)


@click.group("library")
def library_group():
    """People library: `add` the people you named in a run; `run`/`batch --library LIB` then name them in
    other videos (similarity >= the sure band; closer calls are only suggested). `cluster` groups the
    unnamed people of a whole archive so a recurring guest is named once (`name-identity`); `cast` lists
    who is named in which episode, with screen time."""


@library_group.command("add")
@click.argument("outdirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@LIBRARY
@click.option("--with-recognised", is_flag=True,
              help="Also add people the library itself named in those runs (only if you checked them).")
def add_cmd(outdirs, library_path, with_recognised):
    """Store the people named in OUTDIRS (with `facecluster label`) as face prototypes. A person already
    in the library gains the new faces; adding a run again replaces what it gave before."""
    with _open(library_path, create=True) as lib:
        for outdir in outdirs:
            s = lib.add_run(outdir, with_recognised=with_recognised)
            names = ", ".join(f"{a['name']} ({a['prototypes']})" for a in s["added"]) or "nobody (name people with " \
                "`facecluster label OUTDIR PERSON NAME` first)"
            click.echo(f"{outdir}: added {names}")
            if s["new_people"]:
                click.echo(f"  new in the library: {', '.join(s['new_people'])}")
            if s["dropped_people"]:
                click.echo(f"  no longer in the library (their only faces came from this run): "
                           f"{', '.join(s['dropped_people'])}")
            if s["skipped_recognised"]:
                click.echo(f"  {s['skipped_recognised']} person(s) named by the library itself were not added "
                           f"(--with-recognised adds them)")
        click.echo(f"{len(lib.people())} people in {library_path}")


@library_group.command("list")
@LIBRARY
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(library_path, as_json):
    """The people of the library: prototypes, faces behind them, episodes learnt from."""
    with _open(library_path, readonly=True) as lib:
        people = lib.people()
        if as_json:
            click.echo(json.dumps({"library": str(library_path), "embedder": lib.embedder, "people": people}, indent=2))
            return
        from ..library.embedder import describe

        click.echo(f"{library_path}: {len(people)} people" + (f", faces by {describe(lib.embedder)}"
                                                                  if lib.embedder else ""))
        for p in people:
            click.echo(f"  {p['name']}: {plural(p['prototypes'], 'prototype')} from {plural(p['faces'], 'face')} "
                       f"in {plural(p['episodes'], 'episode')}")


@library_group.command("show")
@click.argument("person")
@LIBRARY
def show_cmd(person, library_path):
    """One person of the library and the runs their faces came from."""
    with _open(library_path, readonly=True) as lib:
        p = lib.person(person)
    click.echo(f"{p['name']} (id {p['id']}): {plural(p['prototypes'], 'prototype')} from "
               f"{plural(p['faces'], 'face')}; added "
               f"{p['created']}, updated {p['updated']}")
    for s in p["sources"]:
        click.echo(f"  {s['folder']} ({s['video'] or 'video unknown'}): {plural(s['prototypes'], 'prototype')}, "
                   f"{plural(s['faces'], 'face')}, added {s['added']}")
    if p["unsourced_prototypes"]:
        click.echo(f"  {plural(p['unsourced_prototypes'], 'prototype')} of runs no longer known")


@library_group.command("remove")
@click.argument("person")
@LIBRARY
def remove_cmd(person, library_path):
    """Remove a person (and all their faces) from the library. Their names in runs stay as they are."""
    with _open(library_path) as lib:
        p = lib.remove(person)
    click.echo(f"removed {p['name']} ({plural(p['prototypes'], 'prototype')})")


@library_group.command("merge")
@click.argument("people", nargs=-1, required=True)
@LIBRARY
@click.option("--name", "into", default=None, help="Name of the merged person [default: the first listed].")
def merge_cmd(people, library_path, into):
    """Make one person of several (e.g. two spellings of one name); their faces are pooled."""
    with _open(library_path) as lib:
        p = lib.merge(list(people), into=into)
    click.echo(f"{p['name']}: {plural(p['prototypes'], 'prototype')} from {plural(p['faces'], 'face')}")


@library_group.command("cluster")
@click.argument("archive", type=click.Path(file_okay=False, path_type=Path))
@click.option("--library", "library_path", envvar="FACECLUSTER_LIBRARY", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Also suggest library names for the identities found.")
@click.option("--distance", type=click.FloatRange(0.0, 2.0), default=0.0,
              help="Mean cosine distance under which people of different episodes are one identity "
                   "[default: 0 = 0.7 x the embedder's same-person distance: stricter than within an episode].")
@click.option("--min-faces", type=click.IntRange(1, 100000), default=2, show_default=True,
              help="Leave out people seen in fewer faces.")
@click.pass_context
def cluster_cmd(ctx, archive, library_path, distance, min_faces):
    """Group the unnamed people of every episode in ARCHIVE by face (never two people of one episode
    together; clothing is not used across episodes). Writes ARCHIVE/identities.json and identities.csv;
    name one with `facecluster library name-identity ARCHIVE ID NAME`."""
    from ..library.archive import IDENTITIES_CSV, cluster_archive
    from .options import ProgressHook

    lib = _open(library_path, readonly=True) if library_path else None
    hook = ProgressHook(enabled=not (ctx.obj or {}).get("quiet", False))
    try:
        doc = cluster_archive(archive, library=lib, distance=distance, min_faces=min_faces, hook=hook)
    finally:
        hook.close()
        if lib is not None:
            lib.close()
    click.echo(f"{len(doc['identities'])} identities seen in two or more episodes, from {doc['people_considered']} "
               f"unnamed people in {doc['episodes']} episodes -> {archive / IDENTITIES_CSV}")
    for ident in doc["identities"][:50]:
        eps = ", ".join(f"{m['episode']}#{m['person_id']}" for m in ident["members"][:6])
        more = " ..." if len(ident["members"]) > 6 else ""
        hint = ident.get("library_suggestion")
        hint = f"  (looks like {hint['name']}, {hint['similarity']:.2f})" if hint else ""
        click.echo(f"  identity {ident['id']:>3}: {ident['episodes']} episodes, {ident['faces']} faces: "
                   f"{eps}{more}{hint}")
    _echo_left_out(doc)


@library_group.command("name-identity")
@click.argument("archive", type=click.Path(file_okay=False, path_type=Path))
@click.argument("identity", type=int)
@click.argument("name")
@click.option("--library", "library_path", envvar="FACECLUSTER_LIBRARY", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Also add the named person of every episode to this library.")
def name_identity_cmd(archive, identity, name, library_path):
    """Name identity IDENTITY (from `library cluster`) in every episode of ARCHIVE it was seen in; the name
    is a correction of each episode (edits.json), so it survives re-runs."""
    from ..library.archive import name_identity

    lib = _open(library_path, create=True) if library_path else None
    try:
        done = name_identity(archive, identity, name, library=lib)
    finally:
        if lib is not None:
            lib.close()
    for d in done:
        if d.get("skipped"):
            click.echo(f"  {d['episode']}: skipped: {d['skipped']}")
        else:
            click.echo(f"  {d['episode']}: person {d['person_id']} is now {d['name']!r}")


def _echo_left_out(doc: dict) -> None:
    """The episodes an archive-wide command could not read, with why."""
    for s in doc["skipped"]:
        click.echo(f"  left out {s['episode']}: {s['reason']}")


@library_group.command("cast")
@click.argument("archive", type=click.Path(file_okay=False, path_type=Path))
def cast_cmd(archive):
    """The cast list of ARCHIVE: who is named in which episode, with screen time. Writes ARCHIVE/cast.csv
    (one row per name and episode) and cast.json (also each name's totals)."""
    from ..library.cast import CAST_CSV, archive_cast
    from ..text import fmt_time

    doc = archive_cast(archive)
    click.echo(f"{len(doc['people'])} named people in {doc['episodes']} episodes -> {archive / CAST_CSV}")
    _echo_left_out(doc)
    for t in doc["people"][:50]:
        click.echo(f"  {t['name']}: {plural(t['episodes'], 'episode')}, screen time {fmt_time(t['screen_time_s'])}")


COMMANDS = [library_group]
