import { CST, Lexer } from 'yaml';

/**
 * An upper bound of how deeply a YAML text nests, from yaml's lexer (which, unlike the
 * recursive composer, runs in constant stack). Flow collections count each bracket
 * (the lexer keeps quoted text apart); block collections count twice each indentation
 * step still open (a sequence may sit at its parent key's indentation) plus the `- `,
 * `? ` and `: ` indicators of the line.
 */
export function yamlNestingBound(text: string): number {
  let max = 0;
  let flow = 0;
  let indicators = 0;
  let lineStart = true;
  let scalarFollows = false;
  let pendingIndent = 0;
  const indents: number[] = [];
  const indent = (width: number): void => {
    while (indents.length > 0 && (indents[indents.length - 1] ?? 0) >= width) indents.pop();
    indents.push(width);
  };
  for (const token of new Lexer().lex(text)) {
    if (scalarFollows) {
      // The text of a scalar (a block scalar's lines may look like anything).
      scalarFollows = false;
      continue;
    }
    const type = CST.tokenType(token);
    if (type === 'newline') {
      lineStart = true;
      pendingIndent = 0;
      indicators = 0;
      continue;
    }
    if (lineStart) {
      if (type === 'space') {
        pendingIndent = token.length;
        continue;
      }
      // Blank and comment lines say nothing about nesting.
      if (type === 'comment') continue;
      if (flow === 0) indent(pendingIndent);
      lineStart = false;
    }
    switch (type) {
      case 'scalar':
        scalarFollows = true;
        break;
      case 'flow-map-start':
      case 'flow-seq-start':
        flow++;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        if (flow === 0) indicators++;
        break;
      default:
        break;
    }
    max = Math.max(max, flow + 2 * indents.length + indicators);
  }
  return max;
}
