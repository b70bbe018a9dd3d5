/**
 * The operator's view of a running tunnel, started and stopped as one: the
 * control socket (io/control.ts) and, when asked for, the metrics server
 * (tunnel/metrics.ts), both answering from one snapshot function that the
 * runner provides. Also {@linkcode kernelFacts}: what the kernel knows about
 * the TAP and the socket (drops, MTUs), for that snapshot.
 *
 * Lifetime: {@linkcode Operations.start} before the packet loop runs (and
 * before any privilege drop: the socket's directory may need root);
 * {@linkcode Operations.close} after the loop ended, on every path. Both
 * servers are async and idle between requests: the data path never waits
 * for them.
 *
 * @module
 */

import type { HostPort } from "../core/address.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { UserError } from "../errors.ts";
import { CONTROL_DIR, controlDir, ControlServer, defaultControlPath } from "../io/control.ts";
import { readKernelText, tapKernelDrops, udpSocketDrops } from "../io/kernel_drops.ts";
import { MetricsServer } from "./metrics.ts";
import { statusOf, type TunnelSnapshot } from "./status.ts";

/** Options of {@linkcode Operations.start}. */
export interface OperationsOptions {
  /** The TAP interface. */
  readonly iface: string;
  /** `--control PATH`; the default is /run/tappet/IFACE.sock. */
  readonly control?: string;
  /** `--metrics ADDRESS:PORT`; no metrics server when absent. */
  readonly metrics?: HostPort;
  /** The running tunnel's state now; called once per request. */
  readonly snapshot: () => TunnelSnapshot;
  /** Where a warning goes (the default socket could not be made). */
  readonly warn: (message: string) => void;
}

/** The control socket and the metrics server of one tunnel. */
export class Operations {
  /** The control socket, or undefined when the default one could not be made. */
  readonly control: ControlServer | undefined;
  /** The metrics server, when `--metrics` was given. */
  readonly metrics: MetricsServer | undefined;

  /** A default socket's directory of its own (a namespace's), removed at
   * close when empty. */
  readonly #ownDir: string | undefined;

  private constructor(
    control: ControlServer | undefined,
    metrics: MetricsServer | undefined,
    ownDir?: string,
  ) {
    this.control = control;
    this.metrics = metrics;
    this.#ownDir = ownDir;
  }

  /**
   * Creates the control socket, then the metrics server. Throws a one-line
   * {@linkcode UserError} when another tappet runs on the interface, when
   * `--control PATH` cannot be made, or when the metrics address cannot be
   * bound; nothing stays open then. When the default socket cannot be made
   * for lack of permission (an ordinary user, no /run/tappet), it warns and
   * goes on without one.
   */
  static async start(o: OperationsOptions): Promise<Operations> {
    const status = () => statusOf(o.snapshot());
    const path = o.control ?? defaultControlPath(o.iface);
    let control: ControlServer | undefined;
    try {
      control = await ControlServer.open({
        path,
        iface: o.iface,
        handler: (request) => (request === "status" ? status() : undefined),
      });
    } catch (e) {
      const denied = e instanceof UserError && e.cause instanceof Deno.errors.PermissionDenied;
      if (o.control !== undefined || !denied) throw e;
      o.warn(
        `cannot create control socket ${path} (permission denied): 'tappet status' will not see this tunnel; give --control PATH in a directory you can write`,
      );
    }
    try {
      const metrics = o.metrics === undefined ? undefined : MetricsServer.start(o.metrics, () => [status()]);
      const dir = control !== undefined && o.control === undefined ? controlDir() : undefined;
      return new Operations(control, metrics, dir !== CONTROL_DIR ? dir : undefined);
    } catch (e) {
      await control?.close();
      throw e;
    }
  }

  /** Stops both servers and removes the control socket. Twice is harmless. */
  async close(): Promise<void> {
    await Promise.all([this.control?.close(), this.metrics?.close()]);
    if (this.#ownDir === undefined) return;
    try {
      Deno.removeSync(this.#ownDir); // only when empty: another tappet's socket stays
    } catch {
      // Not empty, or already gone.
    }
  }
}

/** What {@linkcode kernelFacts} reads. */
export interface KernelFacts {
  /** The TAP's and the socket's own drops, by reason (status `drops`). */
  readonly otherDrops: Record<string, number>;
  /** The TAP's MTU, bytes, or undefined when it cannot be read. */
  readonly tapMtu: number | undefined;
}

/** The TAP's and the socket's kernel counters and the TAP's MTU, read now
 * (a few small /sys and /proc reads: per status request, not per packet).
 * `local` is the socket's bound address, `family` its address family. */
export function kernelFacts(iface: string, local: Endpoint, family: 4 | 6): KernelFacts {
  let tapMtu: number | undefined;
  // Unknown when the interface is gone, or /sys is not mounted.
  const v = Number(readKernelText(`/sys/class/net/${iface}/mtu`)?.trim());
  if (Number.isInteger(v) && v > 0) tapMtu = v;
  return { otherDrops: { ...tapKernelDrops(iface), ...udpSocketDrops(local.port, family) }, tapMtu };
}
