// The one error the dataset readers throw for a file whose content is not a
// usable dataset. It belongs to neither side: the upload answers it as
// E1108 naming the `file` field, the trainer fails the job as bad input.
// Its message names the place (line, column, element) and what is wrong.

export class FormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FormatError'
  }
}

/** A thrown value's message, for wrapping a parser's error in a FormatError. */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
