// Follows Premiere's light/dark theme: sets data-theme="light" | "dark" | "darkest" on the
// root element, which styles.css keys its colours on. Premiere reports its theme through
// document.theme (getCurrent() and an onUpdated event); where that is missing (a browser),
// the prefers-color-scheme media query stands in.

export type ThemeName = 'light' | 'dark' | 'darkest';

/** UXP's document.theme, as Premiere provides it. */
export interface UxpTheme {
  getCurrent(): string;
  onUpdated: { addListener(listener: (theme: string) => void): void; removeListener?(listener: (theme: string) => void): void };
}

export function themeName(reported: string | undefined): ThemeName {
  if (reported === 'light' || reported === 'lightest') return 'light';
  if (reported === 'darkest') return 'darkest';
  return 'dark';
}

/** Applies the current theme and keeps following it; returns the unsubscribe. */
export function followTheme(root: HTMLElement, theme: UxpTheme | undefined, prefersLight: () => boolean): () => void {
  const apply = (reported: string | undefined) => root.setAttribute('data-theme', themeName(reported));
  if (!theme) {
    apply(prefersLight() ? 'light' : 'dark');
    return () => {};
  }
  apply(theme.getCurrent());
  const listener = (reported: string) => apply(reported);
  theme.onUpdated.addListener(listener);
  return () => theme.onUpdated.removeListener?.(listener);
}
