import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { defineModule } from '../platform/modules';
import { DriverResolver, ParkDriversResolver } from './driver.resolver';
import { DriverService } from './driver.service';
import { fleetDriversHandler } from './fleet-drivers.inbound';
import { fleetParksHandler } from './fleet-parks.inbound';
import { ParkResolver } from './park.resolver';
import { ParkService } from './park.service';

export interface ParkServices {
  parks: ParkService;
  drivers: DriverService;
}

/** Taxi parks from `fleet.parks` (or an admin) and their drivers from `fleet.drivers`: the fleet payees. */
export const parksModule = defineModule({
  name: 'parks',
  tables: ['park', 'driver'],
  requires: [ledgerModule],
  settings: z.object({
    TOPIC_FLEET_PARKS: z.string().default('fleet.parks'),
    TOPIC_FLEET_DRIVERS: z.string().default('fleet.drivers'),
  }),
  create: ({ use }): ParkServices => {
    const { ledger } = use(ledgerModule);
    return { parks: new ParkService(ledger), drivers: new DriverService(ledger) };
  },
  resolvers: [ParkResolver, DriverResolver, ParkDriversResolver],
  inbound: ({ services, settings }) => [
    fleetParksHandler(settings.TOPIC_FLEET_PARKS, services.parks),
    fleetDriversHandler(settings.TOPIC_FLEET_DRIVERS, services.drivers),
  ],
});
