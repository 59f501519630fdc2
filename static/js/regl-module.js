// regl ships as a UMD file only: the page loads it as a classic script first, this module re-exports it
// so that regl-scatterplot's ES build can `import createRegl from "regl"`.
export default window.createREGL;
