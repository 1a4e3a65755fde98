import type { ChildProcess } from 'node:child_process';

export const CLI: string;
export function startCliServer(opts: {
  catalogue: string;
  db: string;
  policy?: string;
  extra?: string[];
  timeoutMs?: number;
}): Promise<{ url: string; info: Record<string, unknown>; child: ChildProcess }>;
export function stopChild(child: ChildProcess, signal?: NodeJS.Signals): Promise<void>;
export function contextPool(names: readonly string[], n?: number, seed?: number): string[];
export function runLoad(
  url: string,
  pool: string[],
  opts?: { workers?: number; maxPairs?: number; batch?: number },
): { acked: string[]; stop(): void; done: Promise<{ acked: string[]; pairs: number; errors: number }> };
export function countLost(url: string, ackedIds: string[]): Promise<number>;
export function kill9Experiment(opts: {
  catalogue: string;
  db: string;
  names: readonly string[];
  killAfterAcked?: number;
  workers?: number;
  maxPairs?: number;
  batch?: number;
}): Promise<{
  acked: number;
  lost: number;
  rebuiltFeedbacks: number;
  rebuiltUpdates: number;
  rebuild: { events: number; feedbacks: number; replayed: number; ms: number };
}>;
