// Learnable datasets for training tests, made by code from a seed.
import { createRandom } from '../../trainer/data/random.ts'

const pick = <T>(random: () => number, items: readonly T[]) => items[Math.floor(random() * items.length)]

const textTopics = [
  { label: 'sports', zh: ['足球', '比赛', '球队', '进球', '冠军'], en: ['football', 'match', 'team', 'goal', 'league'] },
  { label: 'tech', zh: ['电脑', '软件', '芯片', '程序', '网络'], en: ['computer', 'software', 'chip', 'code', 'network'] },
  { label: 'food', zh: ['米饭', '面条', '美食', '饺子', '厨师'], en: ['rice', 'noodles', 'dinner', 'soup', 'chef'] },
]
const fillerZh = ['今天', '我们', '觉得', '非常', '一些', '这个']
const fillerEn = ['today', 'we', 'think', 'very', 'some', 'this', 'the', 'was']

/**
 * 3 classes, half the rows Chinese and half English: two topic words among
 * filler words, so the label is learnable from the words but not from length.
 */
export function learnableTextCsv(rows: number, seed = 7): string {
  const random = createRandom(seed)
  const lines = ['text,label']
  for (let i = 0; i < rows; i++) {
    const topic = textTopics[i % textTopics.length]
    const chinese = random() < 0.5
    const words = chinese
      ? [pick(random, fillerZh), pick(random, topic.zh), pick(random, fillerZh), pick(random, topic.zh)].join('')
      : [pick(random, fillerEn), pick(random, topic.en), pick(random, fillerEn), pick(random, fillerEn), pick(random, topic.en)].join(' ')
    lines.push(`"${words}",${topic.label}`)
  }
  return `${lines.join('\n')}\n`
}

/** y = 3a - 2b + 4·[color = red] + noise: a regression a model can learn and the mean cannot. */
export function regressionCsv(rows: number, seed = 11): string {
  const random = createRandom(seed)
  const lines = ['a,b,color,y']
  for (let i = 0; i < rows; i++) {
    const a = random() * 10
    const b = random() * 5
    const color = pick(random, ['red', 'green', 'blue'])
    const y = 3 * a - 2 * b + (color === 'red' ? 4 : 0) + (random() - 0.5) * 0.5
    lines.push(`${a.toFixed(3)},${b.toFixed(3)},${color},${y.toFixed(3)}`)
  }
  return `${lines.join('\n')}\n`
}

/** Two numeric features and a class that depends on their sum's sign (3 classes by ranges). */
export function tabularClassesCsv(rows: number, seed = 13): string {
  const random = createRandom(seed)
  const lines = ['x1,x2,label']
  for (let i = 0; i < rows; i++) {
    const x1 = random() * 2 - 1
    const x2 = random() * 2 - 1
    const s = x1 + x2
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${s < -0.4 ? 'low' : s > 0.4 ? 'high' : 'mid'}`)
  }
  return `${lines.join('\n')}\n`
}

/** 8×8 grayscale images in the MNIST CSV layout (label, then pixels 0-255): a horizontal or a vertical bar. */
export function barImagesCsv(rows: number, seed = 17): string {
  const random = createRandom(seed)
  const size = 8
  const header = ['label', ...Array.from({ length: size * size }, (_, i) => `pixel${i}`)]
  const lines = [header.join(',')]
  for (let i = 0; i < rows; i++) {
    const vertical = i % 2 === 0
    const at = 1 + Math.floor(random() * (size - 2))
    const pixels: number[] = []
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const on = vertical ? x === at : y === at
        pixels.push(on ? 200 + Math.floor(random() * 55) : Math.floor(random() * 40))
      }
    }
    lines.push([vertical ? 'vertical' : 'horizontal', ...pixels].join(','))
  }
  return `${lines.join('\n')}\n`
}

/**
 * 28×28 grayscale digits-like images in the MNIST CSV layout, 4 classes
 * (horizontal bar, vertical bar, diagonal, square outline) at random places
 * over a noisy background.
 */
export function strokeImagesCsv(count: number, seed = 23): string {
  let state = seed >>> 0
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 4294967296
  }
  const size = 28
  const classes = ['horizontal', 'vertical', 'diagonal', 'square']
  const lines = [['label', ...Array.from({ length: size * size }, (_, i) => `pixel${i}`)].join(',')]
  for (let n = 0; n < count; n++) {
    const kind = n % classes.length
    const at = 4 + Math.floor(random() * (size - 8))
    const half = 4 + Math.floor(random() * 6)
    const pixels = new Array<number>(size * size)
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const on =
          kind === 0
            ? Math.abs(y - at) <= 1
            : kind === 1
              ? Math.abs(x - at) <= 1
              : kind === 2
                ? Math.abs(x - y - (at - size / 2)) <= 1
                : (Math.abs(x - size / 2) === half || Math.abs(y - size / 2) === half) && Math.abs(x - size / 2) <= half && Math.abs(y - size / 2) <= half
        pixels[y * size + x] = on ? 180 + Math.floor(random() * 76) : Math.floor(random() * 50)
      }
    }
    lines.push([classes[kind], ...pixels].join(','))
  }
  return `${lines.join('\n')}\n`
}
