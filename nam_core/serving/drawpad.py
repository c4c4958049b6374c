"""The drawing canvas of the Translate tab: a plain HTML canvas (``gr.HTML`` with its own script) instead of Gradio's
ImageEditor.

Why: the ImageEditor sends a stroke only after exporting its layers through its WebGL scene and uploading them as
files (measured in headless Chromium here: the first upload ~630 ms after the pointer-up, then two more rounds), so
the live preview could not follow the pen, and a Map pressed in that gap mapped the canvas *before* the stroke. This
canvas encodes its one stroke layer as a PNG data URL (about 2 ms for 400×400) when the pointer is released and sets
it as the component's value at once: the live preview's event carries the drawing itself (no upload), and a Map
pressed after the pointer-up always sees the stroke.

The value is ``""`` (empty canvas) or ``"data:image/png;base64,..."``: transparent where nothing is drawn, the
strokes opaque (the server reads their alpha: :func:`nam_core.serving.images.editor_ink`). Pen and eraser, stroke
width, undo (20 steps) and clear; mouse, pen and touch through pointer events."""

from __future__ import annotations

from typing import Any

CANVAS_SIDE = 400  # px of the drawing (what the server receives); shown at up to this size, scaled down on phones
DEFAULT_WIDTH = 6  # stroke width in canvas px (the hand drawings: 3-10 px strokes on a 512-px canvas)
MAX_WIDTH = 30
UNDO_STEPS = 20

HTML = f"""<div class="nam-pad">
  <div class="nam-pad-tools" role="toolbar" aria-label="Drawing tools">
    <button type="button" class="nam-pad-tool" data-tool="pen" aria-pressed="true" title="Pen (P)">Pen</button>
    <button type="button" class="nam-pad-tool" data-tool="eraser" aria-pressed="false"
            title="Eraser (E)">Eraser</button>
    <label class="nam-pad-width">Width <input type="range" min="2" max="{MAX_WIDTH}" value="{DEFAULT_WIDTH}"
           aria-label="Stroke width"><span class="nam-pad-width-val">{DEFAULT_WIDTH}</span></label>
    <button type="button" class="nam-pad-undo" title="Undo the last stroke (Ctrl+Z)" aria-label="Undo">Undo</button>
    <button type="button" class="nam-pad-clear" title="Clear the canvas" aria-label="Clear canvas">Clear</button>
  </div>
  <canvas class="nam-pad-canvas" width="{CANVAS_SIDE}" height="{CANVAS_SIDE}" tabindex="0" role="img"
          aria-label="Drawing canvas: draw with the mouse, a pen or a finger"></canvas>
</div>"""

CSS = """
.nam-pad { display: flex; flex-direction: column; gap: 6px; }
.nam-pad-tools { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 0.9em; }
.nam-pad-tools button { padding: 2px 10px; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); cursor: pointer; }
.nam-pad-tools button[aria-pressed="true"] { background: var(--button-primary-background-fill);
  color: var(--button-primary-text-color); }
.nam-pad-width { display: flex; gap: 4px; align-items: center; }
.nam-pad-width input { width: 90px; }
.nam-pad-canvas { width: 100%; max-width: 400px; aspect-ratio: 1 / 1; background: #ffffff; touch-action: none;
  border: 1px solid var(--border-color-primary); border-radius: 6px; cursor: crosshair; }
"""

# `element`, `props` and `trigger` are given by gr.HTML. Setting props.value sends the new value and fires the
# component's change event (once per assignment).
JS = """
const cv = element.querySelector('.nam-pad-canvas');
const ctx = cv.getContext('2d');
const W = cv.width, H = cv.height;
const width = element.querySelector('.nam-pad-width input');
const widthVal = element.querySelector('.nam-pad-width-val');
const tools = Array.from(element.querySelectorAll('.nam-pad-tool'));
let tool = 'pen', drawing = false, last = null, inked = false, undo = [];
const UNDO = """ + str(UNDO_STEPS) + """;

function setTool(name) {
  tool = name;
  for (const b of tools) b.setAttribute('aria-pressed', String(b.dataset.tool === name));
}
function pos(e) {
  const r = cv.getBoundingClientRect();
  return [(e.clientX - r.left) * W / r.width, (e.clientY - r.top) * H / r.height];
}
function style() {
  ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  ctx.lineWidth = Number(width.value) * (tool === 'eraser' ? 2 : 1);
  ctx.globalCompositeOperation = tool === 'eraser' ? 'destination-out' : 'source-over';
  ctx.strokeStyle = '#000000';
}
function segment(a, b) { ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke(); }
function anyInk() {
  const d = ctx.getImageData(0, 0, W, H).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 8) return true;
  return false;
}
function send(recount) {
  // the drawing goes with the value: Map and the live preview read it from the event itself. A pen stroke always
  // leaves ink; after the eraser, undo or clear the canvas is read again (it may be empty)
  inked = recount ? anyInk() : true;
  window.namPadSent = performance.now();
  element.dataset.ink = inked ? '1' : '0';  // for tests and styling: is anything drawn
  props.value = inked ? cv.toDataURL('image/png') : '';
}
function snapshot() {
  undo.push(ctx.getImageData(0, 0, W, H));
  if (undo.length > UNDO) undo.shift();
}
function restore(url) {  // a re-mounted canvas (tab switch, page state) shows the value it still holds
  if (typeof url !== 'string' || !url.startsWith('data:image/')) return;
  const im = new Image();
  im.onload = () => { ctx.clearRect(0, 0, W, H); ctx.globalCompositeOperation = 'source-over';
                      ctx.drawImage(im, 0, 0, W, H); inked = true; element.dataset.ink = '1'; };
  im.src = url;
}

cv.addEventListener('pointerdown', (e) => {
  if (e.button !== undefined && e.button > 0) return;
  e.preventDefault();
  cv.setPointerCapture(e.pointerId);
  snapshot();
  drawing = true;
  last = pos(e);
  window.namPadDown = performance.now();
  style();
  segment(last, last);
});
cv.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of (events.length ? events : [e])) { const p = pos(ev); segment(last, p); last = p; }
});
function end(e) {
  if (!drawing) return;
  drawing = false;
  window.namPadUp = performance.now();
  send(tool === 'eraser');
}
cv.addEventListener('pointerup', end);
cv.addEventListener('pointercancel', end);
cv.addEventListener('lostpointercapture', end);

for (const b of tools) b.addEventListener('click', () => setTool(b.dataset.tool));
width.addEventListener('input', () => { widthVal.textContent = width.value; });
element.querySelector('.nam-pad-undo').addEventListener('click', () => {
  const prev = undo.pop();
  if (!prev) return;
  ctx.putImageData(prev, 0, 0);
  send(true);
});
element.querySelector('.nam-pad-clear').addEventListener('click', () => {
  if (!inked && !anyInk()) return;
  snapshot();
  ctx.clearRect(0, 0, W, H);
  send(true);
});
cv.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'z') { e.preventDefault(); element.querySelector('.nam-pad-undo').click(); }
  else if (e.key === 'p') setTool('pen');
  else if (e.key === 'e') setTool('eraser');
});
element.dataset.ink = '0';
restore(props.value);
"""


def draw_pad(**kwargs: Any) -> Any:
    """The canvas as a Gradio component (value: ``""`` or a PNG data URL; see the module docstring)."""
    import gradio as gr

    return gr.HTML("", html_template=HTML, css_template=CSS, js_on_load=JS, apply_default_css=False,
                   container=False, **kwargs)
