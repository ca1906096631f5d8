import { loaderKey, provideLoader, type LoaderProvider } from '../../src/platform/graphql/loaders';
import type { ExampleServices } from './services';

export const greetingLoader = loaderKey<string, string>('example.greeting');

export function exampleLoaders(services: ExampleServices): LoaderProvider[] {
  return [
    provideLoader(greetingLoader, () => async (names) => {
      services.batches.push([...names]);
      return names.map((name) => services.greeter.greet(name));
    }),
  ];
}
