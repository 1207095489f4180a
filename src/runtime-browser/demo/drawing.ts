// The cluster drawn as SVG for the demo page: the leader in the middle, the others around it, a
// line per pair of members, broken in red where a partition cuts it. Pure: a view in, markup out.

export interface MemberView {
  readonly id: string;
  /** leader | follower | candidate | preCandidate, or 'down' when it does not answer. */
  readonly role: string;
  readonly term: number | null;
  /** Members it drops Raft traffic with (fault injection). */
  readonly blocked: readonly string[];
}

const width = 360;
const height = 215;
const center = { x: width / 2, y: height / 2 + 4 };
/** The ring is an ellipse: the drawing is wider than tall. */
const ring = { rx: 130, ry: 85 };

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Where each member goes: the leader (if any) in the middle, the rest evenly on a ring. */
export function layout(members: readonly MemberView[], leader: string | null): Map<string, { x: number; y: number }> {
  const at = new Map<string, { x: number; y: number }>();
  const others = members.filter((m) => m.id !== leader);
  const hasLeader = others.length < members.length;
  if (hasLeader && others.length === 2) {
    // A leader and two followers: a triangle, so the line between the followers stays visible.
    at.set(leader!, { x: center.x, y: 75 });
    at.set(others[0]!.id, { x: center.x - 110, y: 160 });
    at.set(others[1]!.id, { x: center.x + 110, y: 160 });
    return at;
  }
  if (hasLeader) at.set(leader!, center);
  others.forEach((m, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / others.length;
    at.set(m.id, { x: Math.round(center.x + ring.rx * Math.cos(angle)), y: Math.round(center.y + ring.ry * Math.sin(angle)) });
  });
  return at;
}

/** Is the link between a and b cut (either side drops the other's messages)? */
export function isCut(a: MemberView, b: MemberView): boolean {
  return a.blocked.includes(b.id) || b.blocked.includes(a.id);
}

export function drawCluster(members: readonly MemberView[], leader: string | null): string {
  const at = layout(members, leader);
  const parts: string[] = [];
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i]!;
      const b = members[j]!;
      parts.push(drawLink(a, b, at.get(a.id)!, at.get(b.id)!));
    }
  }
  for (const m of members) {
    const p = at.get(m.id)!;
    const r = m.id === leader ? 30 : 24;
    const sub = m.role === 'down' ? 'down' : `${m.role === 'preCandidate' ? 'pre-candidate' : m.role} · term ${m.term ?? '?'}`;
    parts.push(`<g class="member ${esc(m.role)}" data-testid="node-${esc(m.id)}" data-role="${esc(m.role)}">`
      + `<circle cx="${p.x}" cy="${p.y}" r="${r}"><title>${esc(m.id)}: ${esc(sub)}</title></circle>`
      + `<text class="name" x="${p.x}" y="${p.y}">${esc(m.id)}</text>`
      // The leader's label goes above it, clear of the lines to its followers.
      + `<text class="sub" x="${p.x}" y="${m.id === leader ? p.y - r - 8 : p.y + r + 14}">${esc(sub)}</text></g>`);
  }
  return parts.join('');
}

function drawLink(a: MemberView, b: MemberView, pa: { x: number; y: number }, pb: { x: number; y: number }): string {
  const cut = isCut(a, b);
  const idle = !cut && (a.role === 'down' || b.role === 'down');
  const point = (t: number) => ({ x: pa.x + (pb.x - pa.x) * t, y: pa.y + (pb.y - pa.y) * t });
  const line = (from: number, to: number, cls: string) => {
    const p = point(from);
    const q = point(to);
    return `<line class="link ${cls}" x1="${p.x}" y1="${p.y}" x2="${q.x}" y2="${q.y}"/>`;
  };
  const testid = `data-testid="link-${esc(a.id)}-${esc(b.id)}" data-cut="${cut}"`;
  if (!cut) return `<g ${testid}>${line(0, 1, idle ? 'idle' : '')}</g>`;
  const mid = point(0.5);
  return `<g ${testid}>${line(0, 0.4, 'cut')}${line(0.6, 1, 'cut')}<text class="cut-mark" x="${mid.x}" y="${mid.y}">✕</text></g>`;
}
