// Vite turns `import './style.css'` into a stylesheet of the build.
declare module '*.css';
