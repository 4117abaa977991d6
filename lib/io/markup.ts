// Text inside HTML and SVG markup (labels, titles, file names): the characters that would end it escaped.
export const escapeMarkup = (s: string): string => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
