// Stand-in for k6/metrics under Node.js (k6/check).
export class Rate {
  constructor(name) {
    this.name = name;
    this.trues = 0;
    this.total = 0;
  }
  add(value) {
    this.total += 1;
    this.trues += value ? 1 : 0;
  }
}
export class Trend {
  constructor(name) {
    this.name = name;
    this.values = [];
  }
  add(value) {
    this.values.push(value);
  }
}
export class Counter {
  constructor(name) {
    this.name = name;
    this.count = 0;
  }
  add(value) {
    this.count += value;
  }
}
