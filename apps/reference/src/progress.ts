import cliProgress from 'cli-progress';
import type { TrainProgress } from '@edge-compress/core';

export interface Progress {
  onTrain(p: TrainProgress & { method?: string }): void;
  log(msg: string): void;
  stop(): void;
}

/** Progress bars on stderr (only on a terminal and when not --json / --quiet); plain lines otherwise. */
export function createProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }, opts: { quiet?: boolean }): Progress {
  const bars = new Map<string, cliProgress.SingleBar>();
  const tty = Boolean(stderr.isTTY) && !opts.quiet;
  let multi: cliProgress.MultiBar | undefined;
  const lastEpoch = new Map<string, number>();
  return {
    onTrain(p) {
      if (opts.quiet) return;
      const label = p.method ? `${p.method}/${p.phase}` : p.phase;
      if (!tty) {
        if (p.trainAccuracy !== undefined && lastEpoch.get(label) !== p.epoch) {
          lastEpoch.set(label, p.epoch);
          stderr.write(
            `${label} epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(4)} train ${(100 * p.trainAccuracy).toFixed(2)}%${p.testAccuracy !== undefined ? ` val ${(100 * p.testAccuracy).toFixed(2)}%` : ''}\n`,
          );
        }
        return;
      }
      multi ??= new cliProgress.MultiBar(
        { stream: stderr, format: '{label} |{bar}| epoch {epoch}/{epochs} loss {loss} {acc}', hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
      const total = p.epochs * p.stepsPerEpoch;
      let bar = bars.get(label);
      if (!bar) {
        bar = multi.create(total, 0, { label: label.padEnd(18), epoch: 1, epochs: p.epochs, loss: '-', acc: '' });
        bars.set(label, bar);
      }
      bar.update(p.epoch * p.stepsPerEpoch + p.step, {
        epoch: p.epoch + 1,
        epochs: p.epochs,
        loss: p.loss.toFixed(4),
        acc: p.testAccuracy !== undefined ? `val ${(100 * p.testAccuracy).toFixed(2)}%` : '',
      });
    },
    log(msg) {
      if (opts.quiet) return;
      if (multi) multi.log(`${msg}\n`);
      else stderr.write(`${msg}\n`);
    },
    stop() {
      multi?.stop();
      multi = undefined;
      bars.clear();
    },
  };
}
