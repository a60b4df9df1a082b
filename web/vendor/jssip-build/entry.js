export { default } from 'jssip';
