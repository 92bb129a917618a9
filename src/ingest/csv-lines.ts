// Splitting one CSV line without csv-parse, for the lines whose meaning is
// plain: fields without quotes, or wholly quoted fields ("a, b", "say
// ""hi""") that close on the same line. These are most lines of most files,
// and splitting them here is several times faster than csv-parse. Anything
// else (a quote inside an unquoted field, text after a closing quote, a
// quoted field running past the line) answers undefined, and csv-parse reads
// the file from that line on, with its error messages (see csv.ts).

const quote = 0x22
const comma = 0x2c

/** The fields of one line (no line break in it), or undefined when csv-parse has to decide what it means. */
export function splitLine(line: string): string[] | undefined {
  return line.indexOf('"') === -1 ? line.split(',') : splitQuotedLine(line)
}

function splitQuotedLine(line: string): string[] | undefined {
  const fields: string[] = []
  let pos = 0
  for (;;) {
    if (line.charCodeAt(pos) === quote) {
      const end = quotedFieldEnd(line, pos)
      if (end === undefined) return undefined
      fields.push(unquote(line, pos, end))
      pos = end
      if (pos === line.length) return fields
      if (line.charCodeAt(pos) !== comma) return undefined
    } else {
      const next = line.indexOf(',', pos)
      const value = next === -1 ? line.slice(pos) : line.slice(pos, next)
      if (value.indexOf('"') !== -1) return undefined
      fields.push(value)
      if (next === -1) return fields
      pos = next
    }
    pos++
  }
}

/** Just past the closing quote of the quoted field opening at `open`; undefined when it does not close on this line. */
function quotedFieldEnd(line: string, open: number): number | undefined {
  let from = open + 1
  for (;;) {
    const close = line.indexOf('"', from)
    if (close === -1) return undefined
    // a doubled quote is a quote inside the field
    if (line.charCodeAt(close + 1) !== quote) return close + 1
    from = close + 2
  }
}

function unquote(line: string, open: number, end: number): string {
  const inner = line.slice(open + 1, end - 1)
  return inner.indexOf('"') === -1 ? inner : inner.replaceAll('""', '"')
}

/**
 * Matches a line of exactly `fields` integers and nothing else: no quote,
 * no empty field, no space. Such lines are the bulk of pixel tables.
 */
export function integerLinePattern(fields: number): RegExp {
  return fields === 1 ? /^[-+]?\d+$/ : new RegExp(`^[-+]?\\d+(?:,[-+]?\\d+){${fields - 1}}$`)
}
