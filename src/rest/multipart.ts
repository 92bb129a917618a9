// Reads the multipart form of POST /v1/training/datasets: text fields are
// collected, the `file` part streams straight to the staging folder. Fields
// may come before or after the file.
import busboy from 'busboy'
import type { IncomingMessage } from 'node:http'
import { InvalidInputError, type FieldProblem } from '../errors/index.ts'
import type { StagedFile, Storage } from '../infra/storage.ts'

export interface DatasetForm {
  fields: Record<string, string>
  file: StagedFile | undefined
  problems: FieldProblem[]
}

const maxFieldBytes = 1024 * 1024

export function readDatasetForm(request: IncomingMessage, storage: Storage, maxBytes: number): Promise<DatasetForm> {
  return new Promise<DatasetForm>((resolve, reject) => {
    let parser: busboy.Busboy
    try {
      parser = busboy({ headers: request.headers, limits: { files: 1, fields: 50, fieldSize: maxFieldBytes, parts: 60 } })
    } catch (error) {
      reject(new InvalidInputError(`Malformed multipart request: ${(error as Error).message}`))
      return
    }
    const fields: Record<string, string> = {}
    const problems: FieldProblem[] = []
    let staging: Promise<StagedFile> | undefined
    let failed = false
    const abort = async (error: unknown) => {
      if (failed) return
      failed = true
      request.unpipe(parser)
      request.resume()
      const staged = await staging?.catch(() => undefined)
      await storage.discard(staged)
      reject(error)
    }

    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || staging) {
        problems.push({
          field: name,
          message: name === 'file' ? 'only one file may be uploaded' : 'unexpected file field; the dataset goes in a field named "file"',
        })
        stream.resume()
        return
      }
      staging = storage.stage(stream, info.filename, 'data', maxBytes)
      staging.catch((error) => void abort(error))
    })
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) problems.push({ field: name, message: `is longer than ${maxFieldBytes} bytes` })
      else if (name in fields) problems.push({ field: name, message: 'appears more than once' })
      else fields[name] = value
    })
    parser.on('filesLimit', () => problems.push({ field: 'file', message: 'only one file may be uploaded' }))
    parser.on('fieldsLimit', () => problems.push({ field: '(form)', message: 'too many fields' }))
    parser.on('error', (error) => void abort(new InvalidInputError(`Malformed multipart request: ${(error as Error).message}`)))
    parser.on('close', () => {
      if (failed) return
      if (!staging) {
        resolve({ fields, file: undefined, problems })
        return
      }
      staging.then(
        (file) => resolve({ fields, file, problems }),
        (error) => void abort(error),
      )
    })
    request.on('aborted', () => void abort(new InvalidInputError('The upload was interrupted')))
    request.pipe(parser)
  })
}
