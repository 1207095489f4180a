// A uvu suite whose tests share one cluster and run in order (each builds on the state the one
// before left). Any failure keeps the cluster's logs and temp dir for inspection.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, type ClusterOptions } from './cluster.ts';

export interface ClusterSuite {
  test(name: string, fn: (c: Cluster) => Promise<void>): void;
  run(): void;
}

export function clusterSuite(title: string, options: ClusterOptions): ClusterSuite {
  const s = suite(title);
  let cluster: Cluster | null = null;
  let failed = false;
  s.before(async () => {
    cluster = await Cluster.start(options);
  });
  s.after(async () => {
    await cluster?.close({ failed });
  });
  return {
    test(name, fn) {
      s(name, async () => {
        try {
          assert.ok(cluster !== null, 'the shared cluster did not start');
          await fn(cluster!);
        } catch (err) {
          failed = true;
          throw err;
        }
      });
    },
    run: () => s.run(),
  };
}
