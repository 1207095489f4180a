// bench:wan's browser cell: headless Chromium (test/browser/chromium.ts finds it), a few tabs per
// client region, each a follower-reader replicating from the follower nearest its region (the
// token subject is chosen so the tab's source policy picks that follower) and reading through
// its region's relays. Returns per-region read latencies, or why the cell was skipped.

import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { ReplicaStatus } from '../../src/runtime-browser/follower.ts';
import { mintToken } from '../../src/transport/token.ts';
import { chromiumVersion, evaluate, findChromium, launchBrowser, servePage, type LaunchedBrowser, type ServedPage } from '../../test/browser/chromium.ts';
import { Histogram } from './histogram.ts';
import type { NetProfile } from './net/profiles.ts';
import type { WanCluster } from './wan-cluster.ts';
import type { TabReads } from './wan-tab-page.ts';
import { nearestMember, subjectFor, type TabRegion, type TabsResult } from './wan-report.ts';

const pageEntry = fileURLToPath(new URL('./wan-tab-page.ts', import.meta.url));

export interface TabsSpec {
  readonly tabsPerRegion: number;
  readonly loopsPerTab: number;
  readonly seconds: number;
  readonly secret: string;
  readonly cluster: string;
  readonly key: string;
}

function quantile(xs: readonly number[], q: number): number {
  const h = new Histogram();
  for (const x of xs) h.recordMs(x);
  return h.quantileMs(q);
}

export async function measureTabs(cluster: WanCluster, profile: NetProfile, spec: TabsSpec, progress: (t: string) => void): Promise<TabsResult> {
  const chromium = findChromium();
  if (chromium === null) return { status: 'skipped', reason: 'no Chromium at /usr/bin/chromium (set CHROMIUM_PATH, or apt-get install chromium)' };
  let served: ServedPage | null = null;
  let browser: LaunchedBrowser | null = null;
  const pages: Array<{ page: Page; region: number }> = [];
  try {
    served = await servePage({ bundleEntry: pageEntry, title: 'edgeraft bench:wan tab' });
    browser = await launchBrowser({ executablePath: chromium });
    const ids = cluster.ids;
    const leader = cluster.leaderIndex;
    const followers = ids.filter((_, i) => i !== leader);
    const leaderCommit = (await cluster.metrics(cluster.leaderId)).get('edgeraft_commit_index') ?? 0;
    const expMs = Date.now() + 24 * 3600_000;
    const joined: Array<{ page: Page; region: number; source: number; joinMs: number }> = [];
    for (const region of profile.clientRegions) {
      // The follower nearest the region (the leader relays to no tab that asks for a follower).
      const source = followers.length === 0 ? leader : nearestMember(profile, cluster.members, region, leader);
      for (let t = 0; t < spec.tabsPerRegion; t++) {
        const sub = followers.length === 0 ? `wan-tab-${region}-${t}` : subjectFor(`wan-tab-${region}-${t}`, followers, ids[source]!);
        const token = await mintToken(spec.secret, { role: 'reader', sub, cluster: spec.cluster, expMs });
        const page = await browser.newPage();
        pages.push({ page, region });
        await page.goto(served.url);
        await page.waitForFunction('globalThis.wanTab !== undefined');
        const peers = cluster.urlsFrom(region, source);
        const joinMs = await evaluate<number>(page, `wanTab.join(${JSON.stringify(peers)}, ${JSON.stringify(token)}, ${JSON.stringify(cluster.dialMap(region))})`);
        joined.push({ page, region, source, joinMs });
      }
    }
    const status = await Promise.all(joined.map((j) => evaluate<ReplicaStatus>(j.page, `wanTab.following(${leaderCommit}, 60000)`)));
    progress(`  tabs following: ${status.map((s, i) => `${profile.regions[joined[i]!.region]} tab <- ${s.source ?? '?'}`).join(', ')}`);
    // A few reads each first, so the first read's round trips do not count.
    await Promise.all(joined.map((j) => evaluate<TabReads>(j.page, `wanTab.readFor(${JSON.stringify(spec.key)}, 500, 1)`)));
    const reads = await Promise.all(joined.map((j) => evaluate<TabReads>(j.page, `wanTab.readFor(${JSON.stringify(spec.key)}, ${Math.round(spec.seconds * 1000)}, ${spec.loopsPerTab})`)));
    const stale = await Promise.all(joined.map((j) => evaluate<number[]>(j.page, `wanTab.staleReads(${JSON.stringify(spec.key)}, 200)`)));
    const regions: TabRegion[] = profile.clientRegions.map((region) => {
      const mine = joined.map((j, i) => ({ j, i })).filter(({ j }) => j.region === region);
      const lat = mine.flatMap(({ i }) => reads[i]!.latencies);
      const st = status[mine[0]?.i ?? -1];
      const src = st?.source ?? null;
      const srcIndex = src === null ? -1 : ids.indexOf(src);
      return {
        region, tabs: mine.length, source: src, sourceRegion: srcIndex < 0 ? null : profile.memberRegion(srcIndex, cluster.members),
        joinMs: mine.length > 0 ? mine.reduce((s, { j }) => s + j.joinMs, 0) / mine.length : Number.NaN,
        reads: lat.length, readsPerS: mine.reduce((s, { i }) => s + (reads[i]!.latencies.length * 1000) / reads[i]!.ms, 0),
        p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99), errors: mine.reduce((s, { i }) => s + reads[i]!.errors, 0),
        staleP50Ms: quantile(mine.flatMap(({ i }) => stale[i]!), 0.5),
      };
    });
    return { status: 'measured', chromium: chromiumVersion(chromium), tabsPerRegion: spec.tabsPerRegion, loopsPerTab: spec.loopsPerTab, seconds: spec.seconds, regions };
  } catch (err) {
    const why = ((err as Error).message.split('\n')[0] ?? String(err)).slice(0, 300);
    progress(`  tabs: ${why}`);
    return { status: 'skipped', reason: `the tab cell failed: ${why}` };
  } finally {
    for (const { page } of pages) await evaluate(page, 'wanTab.close()').catch(() => undefined);
    await browser?.close();
    await served?.close();
  }
}
