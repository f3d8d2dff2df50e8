// Hooks for screens: observables, events, op calls.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { conn } from './session.js';

/** The current value of an Observable; re-renders when it changes. */
export function useObservable(obs) {
  const [value, setValue] = useState(obs.get());
  useEffect(() => {
    setValue(obs.get());
    return obs.subscribe(setValue);
  }, [obs]);
  return value;
}

/**
 * Subscribe to a server event while the component is mounted. The latest `fn` is
 * always called, so it may use current state without re-subscribing.
 */
export function useEvent(name, fn) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => conn.on(name, (data, ev) => ref.current(data, ev)), [name]);
}

/**
 * Run `fn` each time the page comes back into view (another tab or app was in front):
 * what has no live event (a withdrawn follow request) is read again then.
 */
export function useOnVisible(fn) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const onChange = () => document.visibilityState === 'visible' && ref.current();
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
}

/**
 * Call an op when the component mounts and whenever `deps` change; also again after
 * a reconnect that could not resume (`resync`). Returns {data, error, loading, reload}.
 * A stale answer (deps changed meanwhile) is dropped.
 */
export function useOp(op, args, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const gen = useRef(0);
  const run = useCallback(() => {
    const mine = ++gen.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    conn.call(op, args).then(
      (data) => mine === gen.current && setState({ data, error: null, loading: false }),
      (error) => mine === gen.current && setState({ data: null, error, loading: false }),
    );
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    run();
    return () => {
      gen.current++;
    };
  }, [run]);
  useEffect(() => conn.on('conn.online', ({ resync }) => resync && run()), [run]);
  return { ...state, reload: run };
}
