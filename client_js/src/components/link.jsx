// <Link href="/u/alice">: a real <a> that navigates without reloading the page.
import { navigate } from '../lib/router.js';

export function Link({ href, children, onClick, ...rest }) {
  const click = (ev) => {
    onClick?.(ev);
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    ev.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={click} {...rest}>{children}</a>;
}
