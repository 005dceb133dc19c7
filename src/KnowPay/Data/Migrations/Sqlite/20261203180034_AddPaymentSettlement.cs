using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddPaymentSettlement : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "payer_amount",
                table: "payments",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "payer_currency",
                table: "payments",
                type: "TEXT",
                maxLength: 3,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "payer_rate",
                table: "payments",
                type: "TEXT",
                precision: 24,
                scale: 12,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "settlement_amount",
                table: "payments",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "settlement_currency",
                table: "payments",
                type: "TEXT",
                maxLength: 3,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "settlement_rate",
                table: "payments",
                type: "TEXT",
                precision: 24,
                scale: 12,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "settlement_currency",
                table: "merchants",
                type: "TEXT",
                maxLength: 3,
                nullable: false,
                defaultValue: "CNY");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "payer_amount",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "payer_currency",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "payer_rate",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_amount",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_currency",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_rate",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_currency",
                table: "merchants");
        }
    }
}
