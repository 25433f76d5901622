// The inspector: what the condition function saw for one request (lpCallerId, lpCalleeId,
// lpCallerData, lpSQOS, lpGQOS, g) and every offer of it with its verdict. Fetched with
// `request.get`, and again whenever the request is offered again or decided.
import { useEffect, useRef, useState } from 'react';
import type { RequestDetail } from '../../../electron/protocol/schema';
import { OFFERS_KEPT_FIRST } from '../../../electron/host/request-detail';
import { useWorkbench, useWorkbenchContext } from '../context';
import { plainError } from '../store/deps';
import { requestKey } from '../store';
import { QOS_NOT_SPECIFIED, base64ToBytes, hex, hexDump, hostTime, micros, ascii } from '../format';

type Sockaddr = RequestDetail['caller'];
type Flowspec = NonNullable<RequestDetail['sqos']>['sending'];

const FAMILY = { ipv4: 'AF_INET (IPv4)', ipv6: 'AF_INET6 (IPv6)' } as const;

const SOURCE_TEXT: Record<RequestDetail['callerDataSource'], string> = {
  none: 'none: the protocol carried no data with the request (TCP normally has none)',
  syn: 'the SYN (TCP Fast Open)',
  peek: 'a peek at the first bytes (MSG_PEEK: not consumed)',
};

const FLOWSPEC_FIELDS: Array<[keyof Omit<Flowspec, 'derived'>, string, string]> = [
  ['tokenRate', 'TokenRate', 'bytes/s'],
  ['tokenBucketSize', 'TokenBucketSize', 'bytes'],
  ['peakBandwidth', 'PeakBandwidth', 'bytes/s'],
  ['latency', 'Latency', 'µs'],
  ['delayVariation', 'DelayVariation', 'µs'],
  ['serviceType', 'ServiceType', ''],
  ['maxSduSize', 'MaxSduSize', 'bytes'],
  ['minimumPolicedSize', 'MinimumPolicedSize', 'bytes'],
];

const SERVICE_TYPES: Record<number, string> = {
  0: 'SERVICETYPE_NOTRAFFIC', 1: 'SERVICETYPE_BESTEFFORT', 2: 'SERVICETYPE_CONTROLLEDLOAD', 3: 'SERVICETYPE_GUARANTEED',
  4: 'SERVICETYPE_NETWORK_UNAVAILABLE', 5: 'SERVICETYPE_GENERAL_INFORMATION', 6: 'SERVICETYPE_NOCHANGE',
  9: 'SERVICETYPE_NETWORK_CONTROL', 0x80000000: 'SERVICETYPE_QUALITATIVE',
};

function SockaddrTable({ title, a }: { title: string; a: Sockaddr }) {
  const raw = base64ToBytes(a.raw);
  return (
    <div className="insp-block">
      <h4>{title}</h4>
      <table className="kv">
        <tbody>
          <tr><th>Family</th><td>{FAMILY[a.family]}</td></tr>
          <tr><th>Address</th><td className="mono">{a.address}</td></tr>
          <tr><th>Port</th><td className="mono">{a.port}</td></tr>
          <tr><th>Raw ({raw.length} bytes)</th><td className="mono wrap">{raw.length > 0 ? hex(raw) : 'none'}</td></tr>
        </tbody>
      </table>
    </div>
  );
}

function HexView({ bytes }: { bytes: Uint8Array }) {
  // 8 bytes a line: the inspector column is narrow, and the ASCII must stay in view.
  const lines = hexDump(bytes, 4096, 8);
  return (
    <pre className="hexdump" data-testid="caller-data-hex">
      {lines.map((l) => `${l.offset}  ${l.hex}  ${l.ascii}`).join('\n')}
      {bytes.length > 4096 ? `\n… ${bytes.length - 4096} more bytes` : ''}
    </pre>
  );
}

function FlowspecTable({ title, f }: { title: string; f: Flowspec }) {
  return (
    <table className="flowspec">
      <caption>{title}</caption>
      <thead><tr><th>Field</th><th>Value</th><th>Source</th></tr></thead>
      <tbody>
        {FLOWSPEC_FIELDS.map(([k, label, unit]) => {
          const v = f[k];
          const unspecified = v === QOS_NOT_SPECIFIED;
          const shown = unspecified ? 'not specified' : k === 'serviceType' ? `${SERVICE_TYPES[v] ?? 'unknown'} (${v})` : `${v}${unit ? ` ${unit}` : ''}`;
          return (
            <tr key={k} className={unspecified ? 'unspecified' : undefined}>
              <th>{label}</th>
              <td className="mono" title={unspecified ? 'QOS_NOT_SPECIFIED (0xFFFFFFFF)' : undefined}>{shown}</td>
              <td className="muted">{f.derived[k] ? `derived from ${f.derived[k]}` : unspecified ? '' : 'provider'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Offers({ detail }: { detail: RequestDetail }) {
  return (
    <table className="offers">
      <thead>
        <tr><th>#</th><th>Time</th><th>Verdict</th><th>Decided by</th><th>Condition</th><th>Script</th><th>Callee data / g</th></tr>
      </thead>
      <tbody>
        {detail.offers.map((o, i) => (
          <tr key={i}>
            <td>{o.attempt}</td>
            <td className="mono">{hostTime(o.t)}</td>
            <td className={`v-${o.verdict}`}>{o.verdict}{o.ask ? ' (ask a person)' : ''}</td>
            <td>{o.by}</td>
            <td className="mono">{micros(o.conditionUs)}</td>
            <td>{o.scriptVersion === null ? '—' : `v${o.scriptVersion}`}</td>
            <td className="mono">
              {o.calleeData ? `${ascii(base64ToBytes(o.calleeData)).slice(0, 24)} (${base64ToBytes(o.calleeData).length} B)` : ''}
              {o.group !== undefined ? ` g=${o.group}` : ''}
              {o.error ? <div className="error-text">{o.error.code}: {o.error.message}{o.error.line !== undefined ? ` (line ${o.error.line}${o.error.column !== undefined ? `:${o.error.column}` : ''})` : ''}</div> : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * What the condition function saw for one request and every offer of it: the live inspector's
 * body, also used read-only for recorded requests (the Sessions view).
 */
export function RequestDetailView({ detail: d }: { detail: RequestDetail }) {
  const data = base64ToBytes(d.callerData);
  const groupOffer = [...d.offers].reverse().find((o) => o.group !== undefined);
  return (
    <>
      {d.final ? (
        <div className="insp-block" data-testid="final">
          <h4>Final</h4>
          <table className="kv"><tbody>
            <tr><th>Verdict</th><td className={`v-${d.final.verdict}`}>{d.final.verdict}</td></tr>
            <tr><th>Decided by</th><td>{d.final.by}</td></tr>
            <tr><th>Result</th><td className="mono">{d.final.result}</td></tr>
            <tr><th>Latency</th><td className="mono">{micros(d.final.latencyUs)}</td></tr>
            <tr><th>At</th><td className="mono">{hostTime(d.final.t)}</td></tr>
          </tbody></table>
        </div>
      ) : null}
      <SockaddrTable title="Caller (lpCallerId)" a={d.caller} />
      <SockaddrTable title="Callee (lpCalleeId)" a={d.callee} />
      <div className="insp-block">
        <h4>Caller data (lpCallerData)</h4>
        <div className="muted" data-testid="caller-data-source">{data.length} bytes, from {SOURCE_TEXT[d.callerDataSource]}</div>
        {data.length > 0 ? <HexView bytes={data} /> : null}
      </div>
      <div className="insp-block">
        <h4>Caller QOS (lpSQOS)</h4>
        {d.sqos ? (
          <>
            <FlowspecTable title="SendingFlowspec" f={d.sqos.sending} />
            <FlowspecTable title="ReceivingFlowspec" f={d.sqos.receiving} />
            <div className="muted">ProviderSpecific: {d.sqos.providerSpecific ? <span className="mono">{hex(base64ToBytes(d.sqos.providerSpecific))}</span> : 'empty'}</div>
          </>
        ) : <div className="muted">NULL: the caller asked for no QOS (no negotiation).</div>}
      </div>
      <div className="insp-block">
        <h4>Group</h4>
        <table className="kv"><tbody>
          <tr><th>lpGQOS</th><td className="muted">NULL (reserved for socket groups)</td></tr>
          <tr><th>g</th><td className="mono">{groupOffer ? `${groupOffer.group} (set on offer ${groupOffer.attempt})` : '0 (no group operation)'}</td></tr>
        </tbody></table>
      </div>
      <div className="insp-block">
        <h4>Offers ({d.offers.length + (d.offersOmitted ?? 0)})</h4>
        {d.offersOmitted ? (
          <p className="muted small" data-testid="offers-omitted">
            The first {OFFERS_KEPT_FIRST} and the latest {d.offers.length - OFFERS_KEPT_FIRST} are listed; {d.offersOmitted.toLocaleString('en')} in between are not kept.
          </p>
        ) : null}
        <Offers detail={d} />
      </div>
    </>
  );
}

/** The longest a shown request's detail lags behind its offers. */
const REFETCH_MS = 250;

export function Inspector() {
  const { client } = useWorkbenchContext();
  const inspected = useWorkbench((s) => s.inspected);
  const key = inspected ? requestKey(inspected.listener, inspected.id) : null;
  // A new offer of the request (a new row object) or its decision (row gone) means a new detail.
  const row = useWorkbench((s) => (key ? s.pending.get(key) ?? null : null));
  const [detail, setDetail] = useState<RequestDetail | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Asked at once when the inspected request changes; a new offer of it (a new row object) or its
  // decision (row gone) asks again, at most once per REFETCH_MS however often it is re-offered.
  const fetchDetail = useRef<() => void>(() => undefined);
  useEffect(() => {
    if (!inspected) {
      setDetail(null);
      setError(null);
      fetchDetail.current = () => undefined;
      return;
    }
    let live = true;
    const fetch = (): void => {
      client.call('request.get', { listener: inspected.listener, requestId: inspected.id })
        .then((d) => { if (live) { setDetail(d); setError(null); } })
        .catch((e: unknown) => {
          if (!live) return;
          setDetail(null);
          const code = (e as { code?: string }).code;
          setError(code === 'not-found'
            ? `Request #${inspected.id} is no longer kept by the host (it keeps pending requests and the last 2,000 decided ones per listener).`
            : `Could not load request #${inspected.id}: ${plainError(e)}`);
        });
    };
    fetchDetail.current = fetch;
    fetch();
    return () => { live = false; };
  }, [client, inspected]);

  const refetch = useRef<{ key: string | null; timer: ReturnType<typeof setTimeout> | null }>({ key: null, timer: null });
  useEffect(() => {
    const r = refetch.current;
    if (r.key !== key) {
      r.key = key; // a new request: the effect above has just asked
      return;
    }
    if (r.timer !== null) return;
    r.timer = setTimeout(() => { r.timer = null; fetchDetail.current(); }, REFETCH_MS);
  }, [key, row]);
  useEffect(() => () => { const r = refetch.current; if (r.timer !== null) clearTimeout(r.timer); }, []);

  if (!inspected) {
    return <section className="panel inspector" aria-label="Inspector"><p className="empty">Select a request in the queue or the decisions log to see what the condition function saw.</p></section>;
  }
  const d = detail && detail.id === inspected.id && detail.listener === inspected.listener ? detail : null;
  return (
    <section className="panel inspector" aria-label="Inspector" data-testid="inspector">
      <div className="panel-head">
        <h2>Request #{inspected.id} <span className="muted">listener #{inspected.listener}</span></h2>
        {d ? <span className={`badge ${d.final ? `v-${d.final.verdict}-bg` : ''}`}>{d.final ? d.final.verdict : d.state}</span> : null}
      </div>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {!d && !error ? <p className="muted">Loading…</p> : null}
      {d ? <RequestDetailView detail={d} /> : null}
    </section>
  );
}
